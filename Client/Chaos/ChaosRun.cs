using System.Diagnostics;
using Grains;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Microsoft.Extensions.DependencyInjection;
using Silo;
using Spectre.Console;

namespace Client.Chaos;

/// <summary>One chaos run: a fresh cluster of the layout's processes, the job submitted, one silo killed mid-step and replaced, the outcome read back.</summary>
public sealed class ChaosRun(LocalCluster cluster, JobSpec template, ChaosKill kill, int killAt, ChaosResult? baseline)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(30);

    private readonly string clusterId = $"chaos-{kill.ToString().ToLowerInvariant()}-{Guid.NewGuid():N}"[..24];
    private readonly JobSpec job = template with { Name = $"{template.Name}-{kill.ToString().ToLowerInvariant()}" };

    public async Task<ChaosResult> Run(CancellationToken cancellationToken)
    {
        cluster.StartLayout(clusterId, LocalCluster.LayoutFor(job));
        try
        {
            using var host = await cluster.ConnectAsync(clusterId, cancellationToken);
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var grain = grains.GetGrain<IJobGrain>(job.Name);
            var clock = Stopwatch.StartNew();
            var status = await grain.Submit(job);
            var (victim, continued) = ("-", (double?)null);
            // The run's time is counted from its first iteration's end: the warm start before it varies more than a kill costs.
            Stopwatch? afterFirst = null;
            async Task<JobStatus> Poll()
            {
                status = await SiloLoss.Retry(grain.Status);
                if (status.IterationsDone >= 1) afterFirst ??= Stopwatch.StartNew();
                return status;
            }
            if (kill != ChaosKill.None)
            {
                while (!(await Poll()).IsFinished && status.IterationsDone < killAt - 1) await Task.Delay(100, cancellationToken);
                // Into the step's generation, as the run without a kill measured it: its workers hold samples.
                await Task.Delay(TimeSpan.FromSeconds(0.3 * baseline!.GenerationSeconds), cancellationToken);
                var name = await Victim(grains);
                var done = (await Poll()).IterationsDone;
                var (roles, devices) = cluster.Kill(name);
                var killed = Stopwatch.StartNew();
                victim = $"{name} ({roles})";
                AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss} {job.Name}: killed {victim} in iteration {done + 1}; a new {roles} silo starts in its place[/]");
                cluster.StartSilo(clusterId, $"{name}-new", roles, devices);
                while (!(await Poll()).IsFinished && status.IterationsDone <= done) await Task.Delay(100, cancellationToken);
                continued = killed.Elapsed.TotalSeconds;
            }
            while (!(await Poll()).IsFinished && clock.Elapsed < Patience) await Task.Delay(250, cancellationToken);
            var seconds = afterFirst?.Elapsed.TotalSeconds ?? clock.Elapsed.TotalSeconds;
            var metrics = await SiloLoss.Retry(() => grain.Metrics(0));
            var weights = await FinalWeights();
            AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss} {job.Name}: {status.State} in {seconds:F1} s[/]");
            return new ChaosResult
            {
                Kill = kill, Victim = victim, Completed = status.State == JobState.Completed, Message = status.Message, Continued = continued,
                Seconds = seconds, Iterations = job.Iterations, Replays = status.Recoveries,
                StepSeconds = Mean(metrics, m => m.IterationSeconds), GenerationSeconds = Mean(metrics, m => m.GenerationSeconds),
                Lost = metrics.Sum(m => m.Ledger?.Lost ?? 0), Resent = metrics.Sum(m => m.Ledger?.Redispatched ?? 0),
                Rebuilt = metrics.Sum(m => m.ReplicasRebuilt),
                WeightsObject = FinalWeightsObject, WeightsSha256 = weights,
                SameWeights = baseline is null || (weights is not null && weights == baseline.WeightsSha256),
                WeightsDifference = baseline is null || weights is null || weights == baseline.WeightsSha256 ? null : await Difference(baseline.WeightsObject!),
                Metrics = metrics, FirstDifference = baseline is null ? null : FirstDifference(metrics, baseline.Metrics),
            };
        }
        finally
        {
            cluster.StopSilos();
        }
    }

    /// <summary>Where a run first parted from the run without a kill: the iteration and what differed, or null.</summary>
    private static string? FirstDifference(IterationMetrics[] run, IterationMetrics[] baseline)
    {
        foreach (var (m, b) in run.Zip(baseline))
        {
            var what = new (string Name, double? Run, double? Baseline)[]
            {
                ("reward", m.RewardMean, b.RewardMean), ("kl", m.Kl, b.Kl), ("policy loss", m.PolicyLoss, b.PolicyLoss), ("value loss", m.ValueLoss, b.ValueLoss),
            }.FirstOrDefault(d => d.Run != d.Baseline);
            if (what.Name is not null) return $"iteration {m.Iteration}: {what.Name} {what.Run:G6} vs {what.Baseline:G6}";
        }
        return run.Length == baseline.Length ? null : $"{run.Length} iterations reported vs {baseline.Length}";
    }

    private static double Mean(IterationMetrics[] metrics, Func<IterationMetrics, double> of) =>
        metrics.Where(m => m.Iteration > 0).Select(of).DefaultIfEmpty(0).Average();

    /// <summary>
    /// The silo to kill: one holding a generation worker or the actor's trainer, the inference silo, or the
    /// job grain's. A device silo is one without the job grain where there is one, so that each run loses one thing.
    /// </summary>
    private async Task<string> Victim(IClusterClient grains)
    {
        var silos = await SiloLoss.Retry(() => grains.GetGrain<IClusterInfoGrain>(0).Silos());
        string NameOf(string address) => silos.Single(s => s.Address == address).Name;
        var jobSilo = await SiloOf(grains, grains.GetGrain<IJobGrain>(job.Name));
        var leases = await SiloLoss.Retry(() => grains.GetGrain<IDeviceDirectoryGrain>(0).Leases());
        string Holding(string part)
        {
            var holders = leases.Where(l => l.Holder.Contains(part)).Select(l => NameOf(l.Silo)).Distinct().ToList();
            if (holders.Count == 0) throw new InvalidOperationException($"no silo holds {part} (leases: {string.Join(", ", leases.Select(l => l.Holder))})");
            return holders.FirstOrDefault(h => h != jobSilo) ?? holders[0];
        }
        return kill switch
        {
            ChaosKill.Generation => Holding($"generationworker/{job.Name}/"),
            ChaosKill.Training => Holding($"/{job.Name}/actor/"),
            ChaosKill.Inference => silos.Single(s => s.Status == "Active" && s.Roles.Contains(SiloRoles.Inference)).Name,
            _ => jobSilo,
        };
    }

    /// <summary>The name of the silo a job's grain is active on.</summary>
    public static async Task<string> SiloOf(IClusterClient grains, IJobGrain job)
    {
        var address = await SiloLoss.Retry(() => grains.GetGrain<IManagementGrain>(0).GetActivationAddress(job).AsTask())
            ?? throw new InvalidOperationException($"job {job.GetPrimaryKeyString()} is not active");
        var hosts = await SiloLoss.Retry(() => grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true));
        return hosts.Single(h => h.SiloAddress.Equals(address)).SiloName;
    }

    private string FinalWeightsObject => JobKeys.For(job).ActorWeights(job.Iterations);

    private ICheckpointStore Store => SiloHosting.CreateCheckpointStore(new CheckpointOptions { Provider = CheckpointProvider.AzureBlob, ConnectionString = cluster.ConnectionString });

    /// <summary>The SHA-256 of the actor's weights after the last iteration, as the store recorded it.</summary>
    private async Task<string?> FinalWeights() => (await Store.GetAsync(FinalWeightsObject))?.Sha256;

    /// <summary>
    /// The largest difference of any weight from the run without a kill's: a sample generated again in
    /// another batch may get log-probs a rounding away from the first time's, and training carries that on.
    /// </summary>
    private async Task<double> Difference(string baselineObject)
    {
        using var mine = await Load(FinalWeightsObject);
        using var theirs = await Load(baselineObject);
        var largest = 0.0;
        foreach (var (name, tensor) in mine.Tensors)
        {
            using var delta = (tensor - theirs.Tensors[name]).abs().max();
            largest = Math.Max(largest, delta.item<float>());
        }
        return largest;
    }

    private async Task<Kernels.Checkpoints.SafeTensorsContent> Load(string name)
    {
        using var buffer = new MemoryStream();
        await Store.ReadAsync(name, buffer);
        buffer.Position = 0;
        return Kernels.Checkpoints.SafeTensors.Load(buffer);
    }
}
