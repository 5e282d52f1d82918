using Grains.Interfaces;
using Grains.Interfaces.Jobs;
using Grains;
using Grains.Interfaces.Cluster;
using Microsoft.Extensions.Configuration;

namespace Silo.Options;

public enum ClusteringProvider { Localhost, AzureTable, Redis }

/// <summary>Membership: how silos find each other (section "Clustering").</summary>
public sealed class ClusteringOptions
{
    public const string Section = "Clustering";
    /// <summary>Localhost (one machine), AzureTable or Redis membership.</summary>
    public ClusteringProvider Provider { get; set; } = ClusteringProvider.Localhost;
    /// <summary>Azure Storage connection string (AzureTable) or Redis configuration string (Redis).</summary>
    public string? ConnectionString { get; set; }
    /// <summary>The cluster a silo joins: silos and clients with the same id find each other.</summary>
    public string ClusterId { get; set; } = "actors";
    /// <summary>The service's id: what stored state (reminders) is kept under across cluster restarts.</summary>
    public string ServiceId { get; set; } = "actors";
    /// <summary>The port silos talk to each other on.</summary>
    public int SiloPort { get; set; } = 11111;
    /// <summary>The port clients connect to.</summary>
    public int GatewayPort { get; set; } = 30000;
    /// <summary>Localhost clustering: the silo port of the first silo, which the others join.</summary>
    public int PrimarySiloPort { get; set; } = 11111;
}

/// <summary>What this silo offers (section "Silo"), published as Orleans silo metadata.</summary>
public sealed class SiloOptions
{
    public const string Section = "Silo";
    /// <summary>Shown by `actors cluster` (default: the machine's name).</summary>
    public string Name { get; set; } = Environment.MachineName;
    /// <summary>Comma-separated: generation, training, inference.</summary>
    public string Roles { get; set; } = string.Join(",", SiloRoles.All);
    /// <summary>e.g. cpu, gpu:0-7 (see DeviceSpec).</summary>
    public string Devices { get; set; } = "cpu";
    /// <summary>The devices' class (cpu, H100, H800, H20...), published as silo metadata.</summary>
    public string DeviceClass { get; set; } = "cpu";
    /// <summary>The datacenter the silo is in: where its workers read weights from (Checkpoints:Datacenter).</summary>
    public string Datacenter { get; set; } = "local";
    /// <summary>
    /// Threads each device's tensor work uses (default: every core, for each device). Set it where devices
    /// share a machine's cores and compute at once, as an asynchronous job's generation workers and trainer
    /// do: `actors run` gives each CPU device its share for such a job.
    /// </summary>
    public int? TensorThreads { get; set; }
}

/// <summary>The Orleans dashboard (section "Dashboard"), served on loopback when enabled.</summary>
public sealed class DashboardOptions
{
    public const string Section = "Dashboard";
    /// <summary>Serve the Orleans dashboard on loopback.</summary>
    public bool Enabled { get; set; }
    /// <summary>The dashboard's port.</summary>
    public int Port { get; set; } = 8080;
}

/// <summary>
/// What the silo publishes (section "Metrics"): the Actors meter's figures and the Orleans runtime's, on a
/// Prometheus endpoint, http://127.0.0.1:{PrometheusPort}/metrics, when enabled.
/// </summary>
public sealed class MetricsOptions
{
    public const string Section = "Metrics";
    /// <summary>Serve the Prometheus endpoint.</summary>
    public bool PrometheusEnabled { get; set; }
    /// <summary>The Prometheus endpoint's port.</summary>
    public int PrometheusPort { get; set; } = 9464;
}

/// <summary>Every option of a silo, read from configuration and checked before anything starts.</summary>
public sealed record SiloSettings(ClusteringOptions Clustering, SiloOptions Silo, CheckpointOptions Checkpoints, DashboardOptions Dashboard, TlsSettings Tls, MetricsOptions Metrics)
{
    /// <summary>Binds and validates; throws <see cref="ConfigurationException"/> naming the first bad key.</summary>
    public static SiloSettings Load(IConfiguration configuration)
    {
        RefuseMisspeltSections(configuration);
        var settings = new SiloSettings(
            Bind<ClusteringOptions>(configuration, ClusteringOptions.Section),
            Bind<SiloOptions>(configuration, SiloOptions.Section),
            Bind<CheckpointOptions>(configuration, CheckpointOptions.Section),
            Bind<DashboardOptions>(configuration, DashboardOptions.Section),
            Bind<TlsSettings>(configuration, TlsSettings.Section),
            Bind<MetricsOptions>(configuration, MetricsOptions.Section));
        settings.Validate();
        return settings;
    }

    private static readonly string[] Sections = [ClusteringOptions.Section, SiloOptions.Section, CheckpointOptions.Section, DashboardOptions.Section, TlsSettings.Section, MetricsOptions.Section];

    /// <summary>
    /// A section a letter or two away from one of ours ("Clusterng") is a typo whose settings would be
    /// ignored; sections far from ours (Logging, a library's) are someone else's and stay allowed.
    /// </summary>
    private static void RefuseMisspeltSections(IConfiguration configuration)
    {
        foreach (var section in configuration.GetChildren().Where(c => c.GetChildren().Any()).Select(c => c.Key))
        {
            if (Sections.Contains(section, StringComparer.OrdinalIgnoreCase)) continue;
            // Short names are near many others: "Silo" takes one letter's slip, the longer ones two.
            if (Sections.FirstOrDefault(known => Spelling.Distance(section.ToLowerInvariant(), known.ToLowerInvariant()) <= (known.Length <= 4 ? 1 : 2)) is { } meant)
            {
                throw new ConfigurationException(Quoted.Of(section), $"not a section; did you mean {meant}?");
            }
        }
    }

    private static T Bind<T>(IConfiguration configuration, string section) where T : new()
    {
        try
        {
            return configuration.GetSection(section).Get<T>(o => o.ErrorOnUnknownConfiguration = true) ?? new T();
        }
        catch (InvalidOperationException e)
        {
            throw BinderErrors.Describe(e, section, typeof(T));
        }
    }

    private void Validate()
    {
        Port("Clustering:SiloPort", Clustering.SiloPort);
        Port("Clustering:GatewayPort", Clustering.GatewayPort);
        Port("Clustering:PrimarySiloPort", Clustering.PrimarySiloPort);
        if (Clustering.SiloPort == Clustering.GatewayPort) throw new ConfigurationException("Clustering:GatewayPort", $"must differ from Clustering:SiloPort ({Clustering.SiloPort})");
        Required("Clustering:ClusterId", Clustering.ClusterId);
        Required("Clustering:ServiceId", Clustering.ServiceId);
        if (Clustering.Provider != ClusteringProvider.Localhost) Required("Clustering:ConnectionString", Clustering.ConnectionString, $"required by the {Clustering.Provider} provider");
        if (Clustering.Provider == ClusteringProvider.AzureTable) AzureStorage("Clustering:ConnectionString", Clustering.ConnectionString!);

        Required("Silo:Name", Silo.Name);
        var roles = Silo.Roles.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (roles.Length == 0) throw new ConfigurationException("Silo:Roles", $"name at least one of {string.Join(", ", SiloRoles.All)}");
        var unknown = roles.FirstOrDefault(r => !SiloRoles.All.Contains(r));
        if (unknown is not null) throw new ConfigurationException("Silo:Roles", $"{Quoted.Of(unknown)} is not a role (known: {string.Join(", ", SiloRoles.All)})");
        try
        {
            DeviceSpec.Parse(Silo.Devices);
        }
        catch (FormatException e)
        {
            throw new ConfigurationException("Silo:Devices", e.Message);
        }
        Required("Silo:DeviceClass", Silo.DeviceClass);
        Required("Silo:Datacenter", Silo.Datacenter);
        if (Silo.TensorThreads is < 1) throw new ConfigurationException("Silo:TensorThreads", $"{Silo.TensorThreads} must be at least 1 (threads per device; leave it unset for every core)");

        if (Checkpoints.Provider == CheckpointProvider.Local) Required("Checkpoints:Directory", Checkpoints.Directory);
        else
        {
            Required("Checkpoints:ConnectionString", Checkpoints.ConnectionString, "required by the AzureBlob provider");
            AzureStorage("Checkpoints:ConnectionString", Checkpoints.ConnectionString!);
            if (!IsContainerName(Checkpoints.Container)) throw new ConfigurationException("Checkpoints:Container", $"'{Checkpoints.Container}' is not a valid blob container name (3-63 lowercase letters, digits, single hyphens)");
        }
        if (Checkpoints.ChunkBytes is < 64 * 1024 or > 100 * 1024 * 1024) throw new ConfigurationException("Checkpoints:ChunkBytes", $"{Checkpoints.ChunkBytes} must be between 64 KiB and 100 MiB");
        if (Dashboard.Enabled) Port("Dashboard:Port", Dashboard.Port);
        if (Metrics.PrometheusEnabled) Port("Metrics:PrometheusPort", Metrics.PrometheusPort);
        if (Tls.IsOn(Clustering.Provider))
        {
            if (string.IsNullOrWhiteSpace(Tls.Certificate) && Tls.Mode == TlsMode.Auto)
            {
                throw new ConfigurationException("Tls:Certificate", $"required: silos that cluster through {Clustering.Provider} talk across machines over TLS "
                    + "(make a certificate with 'actors tls create cluster.pfx', or set Tls:Mode Off to go unencrypted)");
            }
            Certificate = global::Silo.Tls.ClusterCertificate.Load(Tls);
        }
    }

    /// <summary>The cluster's certificate, loaded and checked, when TLS is on.</summary>
    public global::Silo.Tls.ClusterCertificate? Certificate { get; private set; }

    /// <summary>Checks an Azure Storage connection string without repeating it (it holds a key).</summary>
    private static void AzureStorage(string key, string connectionString)
    {
        try
        {
            _ = new Azure.Data.Tables.TableServiceClient(connectionString);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or InvalidOperationException)
        {
            throw new ConfigurationException(key, "not an Azure Storage connection string (AccountName=...;AccountKey=...;TableEndpoint=..., or UseDevelopmentStorage=true)");
        }
    }

    /// <summary>A silo process's own ports must be free on loopback before it starts (checked there; a co-hosted silo picks free ones).</summary>
    public void CheckPortsFree()
    {
        foreach (var (key, port) in new[] { ("Clustering:SiloPort", Clustering.SiloPort), ("Clustering:GatewayPort", Clustering.GatewayPort) })
        {
            try
            {
                var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
                listener.Start();
                listener.Stop();
            }
            catch (System.Net.Sockets.SocketException)
            {
                throw new ConfigurationException(key, $"port {port} is in use on 127.0.0.1");
            }
        }
    }

    private static void Port(string key, int port)
    {
        if (port is < 1 or > 65535) throw new ConfigurationException(key, $"{port} is not a TCP port (1-65535)");
    }

    private static void Required(string key, string? value, string why = "must not be empty")
    {
        if (string.IsNullOrWhiteSpace(value)) throw new ConfigurationException(key, why);
    }

    private static bool IsContainerName(string name) =>
        name.Length is >= 3 and <= 63 && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')
        && name[0] != '-' && name[^1] != '-' && !name.Contains("--");
}
