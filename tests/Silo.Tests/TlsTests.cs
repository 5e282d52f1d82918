using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Silo.Options;
using Silo.Tls;

namespace Silo.Tests;

/// <summary>Transport security settings: on across machines unless turned off by name, and certificates checked before a silo starts.</summary>
public sealed class TlsTests : IDisposable
{
    private const string Azure = "UseDevelopmentStorage=true";
    private readonly string directory = Directory.CreateTempSubdirectory("tls-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    private static SiloSettings Load(params (string Key, string Value)[] values) =>
        SiloSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build());

    private static (string, string)[] AcrossMachines(params (string, string)[] more) =>
        [("Clustering:Provider", "AzureTable"), ("Clustering:ConnectionString", Azure), .. more];

    private string File(string name) => Path.Combine(directory, name);

    [Fact]
    public void Silos_clustering_across_machines_need_a_certificate_or_must_turn_TLS_off_by_name()
    {
        var act = () => Load(AcrossMachines());

        act.Should().Throw<ConfigurationException>().WithMessage("Tls:Certificate: required: silos that cluster through AzureTable talk across machines over TLS*actors tls create*Tls:Mode Off*");
        Load(AcrossMachines(("Tls:Mode", "Off"))).Certificate.Should().BeNull();
        Load().Certificate.Should().BeNull("one machine (localhost clustering) needs no TLS");
        var on = () => Load(("Tls:Mode", "On"));
        on.Should().Throw<ConfigurationException>().WithMessage("Tls:Certificate: required with TLS on");
    }

    [Fact]
    public void A_created_certificate_turns_TLS_on_and_is_trusted_by_its_cluster_only()
    {
        var created = ClusterCertificate.Create(File("cluster.pfx"), "actors-test", TimeSpan.FromDays(2), "pw");

        var settings = Load(AcrossMachines(("Tls:Certificate", File("cluster.pfx")), ("Tls:Password", "pw")));
        var local = Load(("Tls:Certificate", File("cluster.pfx")), ("Tls:Password", "pw"));

        settings.Certificate!.Own.Thumbprint.Should().Be(created.Thumbprint);
        settings.Certificate.Own.HasPrivateKey.Should().BeTrue();
        local.Certificate.Should().NotBeNull("a certificate given on one machine turns TLS on there too");
        settings.Certificate.Trusts(X509CertificateLoader.LoadCertificate(created.RawData)).Should().BeTrue();
        var stranger = ClusterCertificate.Create(File("stranger.pfx"), "actors-test", TimeSpan.FromDays(2));
        settings.Certificate.Trusts(stranger).Should().BeFalse("another self-signed certificate with the same name is not the cluster's");
        if (!OperatingSystem.IsWindows()) System.IO.File.GetUnixFileMode(File("cluster.pfx")).Should().Be(UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    [Fact]
    public void A_bad_certificate_is_named_by_its_key_without_its_password()
    {
        ClusterCertificate.Create(File("cluster.pfx"), "actors-test", TimeSpan.FromDays(2), "right-password");
        System.IO.File.WriteAllText(File("garbage.pfx"), "not a certificate");
        using var key = ECDsa.Create();
        var request = new CertificateRequest("CN=old", key, HashAlgorithmName.SHA256);
        System.IO.File.WriteAllBytes(File("expired.pfx"), request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-10), DateTimeOffset.UtcNow.AddDays(-1)).Export(X509ContentType.Pkcs12));
        var keyless = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        System.IO.File.WriteAllBytes(File("keyless.pfx"), X509CertificateLoader.LoadCertificate(keyless.RawData).Export(X509ContentType.Pkcs12));

        Message(("Tls:Certificate", File("missing.pfx"))).Should().Be($"Tls:Certificate: no file '{File("missing.pfx")}'");
        Message(("Tls:Certificate", File("garbage.pfx"))).Should().Be($"Tls:Certificate: '{File("garbage.pfx")}' is not a PKCS#12 (.pfx) file, or Tls:Password does not open it");
        Message(("Tls:Certificate", File("cluster.pfx")), ("Tls:Password", "wrong-password")).Should().EndWith("or Tls:Password does not open it").And.NotContain("wrong-password");
        Message(("Tls:Certificate", File("expired.pfx"))).Should().StartWith("Tls:Certificate: the certificate expired on ");
        Message(("Tls:Certificate", File("keyless.pfx"))).Should().Be($"Tls:Certificate: '{File("keyless.pfx")}' holds no private key");
        Message(("Tls:Certificate", File("cluster.pfx")), ("Tls:Password", "right-password"), ("Tls:Authority", File("missing.crt"))).Should().Be($"Tls:Authority: no file '{File("missing.crt")}'");
        Message(("Tls:Mode", "Sometimes")).Should().StartWith("Tls:Mode");
    }

    private string Message(params (string, string)[] values)
    {
        var act = () => Load(AcrossMachines(values));
        return act.Should().Throw<ConfigurationException>().Which.Message;
    }

    [Fact]
    public void With_an_authority_a_certificate_it_issued_is_trusted_and_one_it_did_not_is_refused()
    {
        var (authority, authorityKey) = Authority("CN=actors-ca");
        var (otherAuthority, otherKey) = Authority("CN=other-ca");
        System.IO.File.WriteAllText(File("ca.crt"), authority.ExportCertificatePem());
        System.IO.File.WriteAllBytes(File("silo.pfx"), Issued(authority, authorityKey, "CN=silo-1").Export(X509ContentType.Pkcs12));

        var settings = Load(AcrossMachines(("Tls:Certificate", File("silo.pfx")), ("Tls:Authority", File("ca.crt"))));

        settings.Certificate!.Trusts(Issued(authority, authorityKey, "CN=silo-2")).Should().BeTrue("another silo's certificate from the same authority");
        settings.Certificate.Trusts(Issued(otherAuthority, otherKey, "CN=silo-2")).Should().BeFalse("a certificate from another authority");
        settings.Certificate.Trusts(ClusterCertificate.Create(File("self.pfx"), "silo-2", TimeSpan.FromDays(1))).Should().BeFalse("a self-signed one");
    }

    private static (X509Certificate2 Certificate, ECDsa Key) Authority(string subject)
    {
        var key = ECDsa.Create();
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.DigitalSignature, critical: true));
        return (request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30)), key);
    }

    private static X509Certificate2 Issued(X509Certificate2 authority, ECDsa authorityKey, string subject)
    {
        using var key = ECDsa.Create();
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        var serial = RandomNumberGenerator.GetBytes(8);
        using var signed = request.Create(authority.SubjectName, X509SignatureGenerator.CreateForECDsa(authorityKey), DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        return signed.CopyWithPrivateKey(key);
    }
}
