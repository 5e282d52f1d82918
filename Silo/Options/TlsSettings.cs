namespace Silo.Options;

/// <summary>
/// Auto: TLS between silos and clients whenever they cluster across machines (AzureTable, Redis), and on a
/// single machine when a certificate is given. On: always (a certificate is required). Off: never, which
/// across machines must be asked for by name.
/// </summary>
public enum TlsMode { Auto, On, Off }

/// <summary>Transport security (section "Tls"): mutual TLS with the cluster's certificate.</summary>
public sealed class TlsSettings
{
    public const string Section = "Tls";
    /// <summary>Auto (on with AzureTable or Redis membership, or when a certificate is given), On or Off.</summary>
    public TlsMode Mode { get; set; } = TlsMode.Auto;
    /// <summary>A PKCS#12 (.pfx) file with this silo's certificate and private key (`actors tls create` makes a self-signed one).</summary>
    public string? Certificate { get; set; }
    /// <summary>The .pfx file's password, if it has one; never printed.</summary>
    public string? Password { get; set; }
    /// <summary>
    /// A certificate authority (PEM or DER file): remote silos and clients must present a certificate it
    /// issued. Without it they must present the cluster's own certificate (the one in <see cref="Certificate"/>).
    /// </summary>
    public string? Authority { get; set; }

    /// <summary>Whether connections use TLS, given how the silos find each other.</summary>
    public bool IsOn(ClusteringProvider provider) => Mode switch
    {
        TlsMode.On => true,
        TlsMode.Off => false,
        _ => provider != ClusteringProvider.Localhost || Certificate is not null,
    };
}
