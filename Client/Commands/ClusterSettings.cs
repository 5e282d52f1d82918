using System.ComponentModel;
using Grains.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Orleans.Configuration;
using Silo.Options;
using Silo.Tls;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>How the client finds a running cluster: the same membership the silos use.</summary>
public class ClusterSettings : CommandSettings
{
    [CommandOption("--clustering")]
    [Description("Membership provider of the cluster: Localhost, AzureTable or Redis.")]
    [DefaultValue(ClusteringProvider.Localhost)]
    public ClusteringProvider Clustering { get; init; } = ClusteringProvider.Localhost;

    [CommandOption("--connection")]
    [Description("Azure Storage connection string (AzureTable) or Redis configuration (Redis).")]
    public string? Connection { get; init; }

    [CommandOption("--gateway-port")]
    [Description("Localhost clustering: a silo's gateway port.")]
    [DefaultValue(30000)]
    public int GatewayPort { get; init; } = 30000;

    [CommandOption("--cluster-id")]
    [Description("The cluster's id (Clustering:ClusterId of its silos).")]
    [DefaultValue("actors")]
    public string ClusterId { get; init; } = "actors";

    [CommandOption("--tls")]
    [Description("Auto (TLS when the cluster spans machines: AzureTable, Redis; or when --certificate is given), On or Off (for a cluster whose silos run with Tls:Mode Off).")]
    [DefaultValue(TlsMode.Auto)]
    public TlsMode Tls { get; init; } = TlsMode.Auto;

    [CommandOption("--certificate")]
    [Description("The cluster's certificate, a PKCS#12 (.pfx) file, as the silos' Tls:Certificate; its password, if any, in the environment variable " + PasswordVariable + ".")]
    public string? Certificate { get; init; }

    [CommandOption("--authority")]
    [Description("A certificate authority the silos' certificates must chain to (as the silos' Tls:Authority).")]
    public string? Authority { get; init; }

    [CommandOption("--connect-timeout")]
    [Description("Seconds a command waits to reach the cluster before it says it cannot (TLS handshakes with many silos on a busy machine take a while).")]
    [DefaultValue(30)]
    public int ConnectTimeoutSeconds { get; init; } = 30;

    /// <summary>Where the client's certificate password comes from: not an option, so it stays out of the process list.</summary>
    public const string PasswordVariable = "ACTORS_TLS_PASSWORD";

    private ClusterCertificate? certificate;

    public override Spectre.Console.ValidationResult Validate()
    {
        if (Clustering != ClusteringProvider.Localhost && string.IsNullOrWhiteSpace(Connection)) return Spectre.Console.ValidationResult.Error($"--connection is required with --clustering {Clustering}");
        if (GatewayPort is < 1 or > 65535) return Spectre.Console.ValidationResult.Error("--gateway-port must be a TCP port");
        if (ConnectTimeoutSeconds is < 1 or > 3600) return Spectre.Console.ValidationResult.Error($"--connect-timeout must be 1..3600 seconds, not {ConnectTimeoutSeconds}");
        var tls = new TlsSettings { Mode = Tls, Certificate = Certificate, Authority = Authority, Password = Environment.GetEnvironmentVariable(PasswordVariable) };
        if (!tls.IsOn(Clustering)) return Spectre.Console.ValidationResult.Success();
        if (Certificate is null && Tls == TlsMode.Auto)
        {
            return Spectre.Console.ValidationResult.Error($"--certificate is required with --clustering {Clustering}: the cluster's silos talk over TLS (--tls Off for a cluster that does not)");
        }
        try
        {
            certificate = ClusterCertificate.Load(tls, name => name == nameof(TlsSettings.Password) ? PasswordVariable : $"--{name.ToLowerInvariant()}");
            return Spectre.Console.ValidationResult.Success();
        }
        catch (ConfigurationException e)
        {
            return Spectre.Console.ValidationResult.Error(e.Message);
        }
    }

    /// <summary>How long a command waits to reach the cluster before it says it cannot.</summary>
    private TimeSpan ConnectTimeout => TimeSpan.FromSeconds(ConnectTimeoutSeconds);

    /// <summary>A started Orleans client connected to the cluster; dispose it to disconnect. Fails within <see cref="ConnectTimeout"/> naming where it looked.</summary>
    public async Task<IHost> ConnectAsync(CancellationToken cancellationToken)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        // Standard output is the command's answer; the client's own log goes to standard error, and
        // Orleans' connection retries (a warning with a stack trace each) stay out of it.
        builder.Logging.ClearProviders().AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace).SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Orleans", LogLevel.Error).AddFilter("Microsoft.Extensions.Hosting", LogLevel.None);
        builder.UseOrleansClient(client =>
        {
            client.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (ClusterId, ClusterId));
            client.Services.AddLossExceptions();
            switch (Clustering)
            {
                case ClusteringProvider.Localhost: client.UseLocalhostClustering(GatewayPort, ClusterId, ClusterId); break;
                case ClusteringProvider.AzureTable: client.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(Connection)); break;
                case ClusteringProvider.Redis: client.UseRedisClustering(Connection!); break;
            }
            if (certificate is not null) client.UseTls(certificate.Own, certificate.Configure);
        });
        var host = builder.Build();
        using var patience = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        patience.CancelAfter(ConnectTimeout);
        try
        {
            await host.StartAsync(patience.Token);
            return host;
        }
        catch (Exception e) when (!cancellationToken.IsCancellationRequested)
        {
            host.Dispose();
            // Which cancellation surfaces when the patience runs out (a task's or an operation's) varies with timing: the cause is said once.
            var cause = e is OperationCanceledException && patience.IsCancellationRequested ? "no gateway answered" : e.GetType().Name;
            throw new InvalidOperationException($"cannot reach cluster '{ClusterId}' at {Where} within {ConnectTimeout.TotalSeconds:F0} s ({cause})", e);
        }
    }

    /// <summary>Where the client looks for the cluster, without secrets (a connection string names its account, not its key).</summary>
    private string Where => Clustering switch
    {
        ClusteringProvider.Localhost => $"localhost gateway port {GatewayPort}",
        ClusteringProvider.AzureTable => "its Azure Table membership" + (Connection?.Split(';').FirstOrDefault(p => p.StartsWith("AccountName=", StringComparison.OrdinalIgnoreCase)) is { } account ? $" ({account})" : ""),
        _ => "its Redis membership",
    };
}

public static class HostExtensions
{
    public static IClusterClient Cluster(this IHost host) => host.Services.GetRequiredService<IClusterClient>();
}
