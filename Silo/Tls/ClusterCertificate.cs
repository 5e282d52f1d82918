using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grains.Interfaces.Jobs;
using Orleans.Connections.Security;
using Silo.Options;

namespace Silo.Tls;

/// <summary>
/// The cluster's certificate: made (self-signed, for a local or test cluster), loaded with errors that name
/// the setting, and used for mutual TLS, where every silo and client shows one and checks the other's.
/// </summary>
public sealed class ClusterCertificate
{
    private ClusterCertificate(X509Certificate2 own, X509Certificate2? authority) => (Own, Authority) = (own, authority);

    public X509Certificate2 Own { get; }
    public X509Certificate2? Authority { get; }

    /// <summary>
    /// Writes a self-signed certificate for <paramref name="name"/> (server and client authentication, an
    /// ECDSA P-256 key) to a PKCS#12 file only its owner can read.
    /// </summary>
    public static X509Certificate2 Create(string path, string name, TimeSpan validity, string? password = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={name}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([Oid.FromOidValue("1.3.6.1.5.5.7.3.1", OidGroup.EnhancedKeyUsage), Oid.FromOidValue("1.3.6.1.5.5.7.3.2", OidGroup.EnhancedKeyUsage)], critical: false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        request.CertificateExtensions.Add(names.Build());
        var now = DateTimeOffset.UtcNow;
        var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now + validity);
        var directory = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(directory);
        var temporary = Path.Combine(directory, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}");
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using (var file = new FileStream(temporary, options)) file.Write(certificate.Export(X509ContentType.Pkcs12, password));
        File.Move(temporary, path, overwrite: true);
        return certificate;
    }

    /// <summary>
    /// Loads the settings' certificate (and authority); throws <see cref="ConfigurationException"/> naming the
    /// setting that is wrong, as <paramref name="keyOf"/> names it (Tls:Certificate in a silo's settings by default).
    /// </summary>
    public static ClusterCertificate Load(TlsSettings settings, Func<string, string>? keyOf = null)
    {
        keyOf ??= name => $"{TlsSettings.Section}:{name}";
        var key = keyOf(nameof(TlsSettings.Certificate));
        if (string.IsNullOrWhiteSpace(settings.Certificate)) throw new ConfigurationException(key, "required with TLS on");
        if (!File.Exists(settings.Certificate)) throw new ConfigurationException(key, $"no file {Quoted.Of(settings.Certificate)}");
        X509Certificate2 own;
        try
        {
            own = X509CertificateLoader.LoadPkcs12FromFile(settings.Certificate, settings.Password);
        }
        catch (CryptographicException)
        {
            throw new ConfigurationException(key, $"{Quoted.Of(settings.Certificate)} is not a PKCS#12 (.pfx) file, or {keyOf(nameof(TlsSettings.Password))} does not open it");
        }
        if (!own.HasPrivateKey) throw new ConfigurationException(key, $"{Quoted.Of(settings.Certificate)} holds no private key");
        Current(own, key);
        X509Certificate2? authority = null;
        if (!string.IsNullOrWhiteSpace(settings.Authority))
        {
            var authorityKey = keyOf(nameof(TlsSettings.Authority));
            if (!File.Exists(settings.Authority)) throw new ConfigurationException(authorityKey, $"no file {Quoted.Of(settings.Authority)}");
            try
            {
                authority = X509CertificateLoader.LoadCertificateFromFile(settings.Authority);
            }
            catch (CryptographicException)
            {
                throw new ConfigurationException(authorityKey, $"{Quoted.Of(settings.Authority)} is not a certificate (PEM or DER)");
            }
            Current(authority, authorityKey);
        }
        return new ClusterCertificate(own, authority);
    }

    private static void Current(X509Certificate2 certificate, string key)
    {
        var now = DateTime.Now;
        if (now > certificate.NotAfter) throw new ConfigurationException(key, $"the certificate expired on {certificate.NotAfter:yyyy-MM-dd}");
        if (now < certificate.NotBefore) throw new ConfigurationException(key, $"the certificate is not valid before {certificate.NotBefore:yyyy-MM-dd}");
    }

    /// <summary>
    /// Mutual TLS: this side shows its certificate and requires one from the other, which must be the
    /// cluster's own (same thumbprint) or, with an authority, one that it issued and that is current.
    /// </summary>
    public void Configure(TlsOptions options)
    {
        options.LocalCertificate = Own;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.RemoteCertificateValidation = (remote, _, _) => Trusts(remote);
    }

    /// <summary>Whether a remote side's certificate belongs to this cluster.</summary>
    public bool Trusts(X509Certificate2 remote)
    {
        if (DateTime.Now > remote.NotAfter || DateTime.Now < remote.NotBefore) return false;
        if (Authority is null) return remote.Thumbprint == Own.Thumbprint;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(Authority);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        return chain.Build(remote);
    }
}
