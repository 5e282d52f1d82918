using Grains.Interfaces.Jobs;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Silo;

namespace Client.Commands;

/// <summary>
/// A silo hosted in this process for `run` and `bench`: localhost clustering on free loopback ports
/// (nothing outside reaches it, and several runs can share a machine), declaring one logical device per
/// device grain the job (or each of <c>jobs</c> such jobs side by side) places (colocated roles), or
/// <c>devices</c> of them: CPU devices, or the emulated job's device class;
/// unless the configuration says otherwise. Its ledger is in memory unless configured
/// (Checkpoints:Ledger): a cluster of one silo has no other silo to go on after its loss, and --resume
/// goes on from the checkpoint, so a ledger on disk would only slow it (measured: README).
/// </summary>
public static class InProcessSilo
{
    public static async Task<IHost> StartAsync(JobSpec? job, CancellationToken cancellationToken, int jobs = 1, int? devices = null)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { ContentRootPath = AppContext.BaseDirectory });
        devices ??= jobs * (job?.Rl is { } rl ? LeasedDevices(rl) : 1);
        var kind = job?.Rl?.Emulation?.DeviceClass.ToLowerInvariant() ?? "cpu";
        var defaults = new Dictionary<string, string?> { ["Silo:Devices"] = devices == 1 ? kind : $"{kind}:0-{devices - 1}" };
        defaults["Checkpoints:Ledger"] = nameof(Grains.LedgerPlace.Memory);
        // An asynchronous job's workers and trainer compute at once: each CPU device gets its share of the
        // cores rather than every core each (measured: README, "Wall time").
        if (kind == "cpu" && job?.Rl is { Staleness: > 0 }) defaults["Silo:TensorThreads"] = Math.Max(1, Environment.ProcessorCount / devices.Value).ToString();
        var siloPort = FreePort();
        (defaults["Clustering:SiloPort"], defaults["Clustering:PrimarySiloPort"], defaults["Clustering:GatewayPort"]) = (siloPort, siloPort, FreePort());
        builder.Configuration.AddInMemoryCollection(defaults.Where(d => builder.Configuration[d.Key] is null));
        builder.AddActorsSilo();
        var host = builder.Build();
        await host.StartAsync(cancellationToken);
        return host;
    }

    /// <summary>The device leases an rl job holds: its workers and trainers, or a colocated job's one per device.</summary>
    public static int LeasedDevices(RlSpec rl) => rl.GenerationWorkers + (rl.Placement == RolePlacement.Colocated ? 0 : TrainingDevices(rl));

    /// <summary>A trainer per replica and model; or the pipelines' stages (the critic's on the actor's devices when fused), and the warm start's trainer before them.</summary>
    public static int TrainingDevices(RlSpec rl) => rl.Pipeline is not { } p ? rl.TrainingReplicas * (rl.NeedsCritic ? 2 : 1)
        : Math.Max(1, rl.TrainingReplicas * (p.Stages + (rl.NeedsCritic && p.Schedule != PipelineScheduleKind.Fused ? p.CriticStagesOrActor : 0)));

    private static string FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port.ToString();
    }
}
