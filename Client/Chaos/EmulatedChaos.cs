using System.Diagnostics;
using Client.Benchmarks;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Client.Chaos;

/// <summary>
/// The emulated chaos run: an emulated workload, run as <paramref name="variant"/> runs it in bench, on a
/// chaos cluster of real silo processes declaring the workload's device class; with kills, from the first
/// measured step on a random silo is SIGKILLed every <paramref name="killEvery"/> emulated seconds, declared
/// dead at once (as an orchestrator that saw the process end does: membership's own probes take wall
/// seconds, which the time scale would turn into emulated minutes) and replaced by a new process. The job
/// grain's silo is spared: an emulated job keeps no checkpoint, so its loss starts the job again (the
/// real-process runs measure that loss).
/// </summary>
public sealed class EmulatedChaos(LocalCluster cluster, JobSpec workload, BenchVariant variant, double killEvery, long seed, int machineDevices, int spares = 0)
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(60);

    public async Task<EmulatedChaosResult> Run(bool kills, CancellationToken cancellationToken)
    {
        var applied = variant.Apply(workload);
        var job = applied with { Name = $"{applied.Name}{(kills ? "-kills" : "")}" };
        var clusterId = $"chaos-emu-{Guid.NewGuid():N}"[..20];
        var timeScale = job.Rl!.Emulation!.TimeScale;
        // The ledger in a directory the processes share: Azurite, on a machine of two cores, serves ~150 blob
        // requests a second, and a 1,024-sample step needs ~3.4 per sample (read, response, removal).
        cluster.StartLayout(clusterId, LocalCluster.LayoutFor(job, machineDevices, spares), Path.Combine(cluster.Work, $"{clusterId}-store"));
        try
        {
            using var host = await cluster.ConnectAsync(clusterId, cancellationToken);
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var grain = grains.GetGrain<IJobGrain>(job.Name);
            var clock = Stopwatch.StartNew();
            var status = await grain.Submit(job);
            var (random, killed, next) = (new Random(unchecked((int)seed)), new List<string>(), 0);
            var every = TimeSpan.FromSeconds(killEvery / timeScale);
            TimeSpan? nextKill = null;
            while (!status.IsFinished && clock.Elapsed < Patience)
            {
                await Task.Delay(250, cancellationToken);
                status = await SiloLoss.Retry(grain.Status);
                if (!kills || status.IterationsDone < variant.WarmUp || status.IsFinished) continue;
                nextKill ??= clock.Elapsed + every;
                if (clock.Elapsed < nextKill) continue;
                var victims = await Victims(grains, grain, cluster);
                if (victims.Length == 0) continue;
                var victim = victims[random.Next(victims.Length)];
                var (roles, devices) = cluster.Kill(victim);
                await Declare(grains, victim);
                cluster.StartSilo(clusterId, $"{victim.Split('~')[0]}~{++next}", roles, devices);
                killed.Add($"{victim} ({roles}) in step {status.IterationsDone + 1}");
                AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss} {job.Name}: killed {victim} ({roles}) in step {status.IterationsDone + 1}; a new one starts[/]");
                // Kills missed while the loop waited on a busy cluster are not made up in a burst.
                nextKill = Max(nextKill.Value + every, clock.Elapsed + every / 2);
            }
            if (status.State != JobState.Completed) throw new InvalidOperationException($"{job.Name} ended {status.State}: {status.Message}");
            var measuredSteps = variant.Measured(workload.Iterations - 1);
            var measured = (await SiloLoss.Retry(() => grain.Metrics(variant.WarmUp + 1))).Take(measuredSteps).ToArray();
            var emulated = new EmulatedJob(job);
            var steady = SteadyState.Of(measured, [.. measured.Select(m => emulated.Workload(m.Iteration))], null, variant.Staleness);
            var all = await SiloLoss.Retry(() => grain.Metrics(0));
            var account = new ChaosAccount(all.Sum(m => m.Ledger?.Lost ?? 0), all.Sum(m => m.Ledger?.Redispatched ?? 0), all.Sum(m => m.Ledger?.TokensCarried ?? 0),
                all.Sum(m => m.Ledger?.TakenBack ?? 0), all.Sum(m => m.ReplicasRebuilt));
            return new EmulatedChaosResult(kills ? "random kills" : "no kill", killed, measured.Length, steady.SecondsPerIteration, steady.SamplesPerSecond,
                account, clock.Elapsed.TotalSeconds, [.. measured.Select(m => m.IterationSeconds * m.TimeScale)]);
        }
        finally
        {
            cluster.StopSilos();
        }
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    /// <summary>
    /// The silos a kill may hit: those of the cluster active in membership but the job grain's, and that work
    /// for the job: an inference silo, or one where the job holds a device (an idle spare machine's loss
    /// would cost nothing, and count as a kill survived). A replacement still joining is no victim
    /// (measured: the one inference silo's replacements, killed while joining one after the other, left the
    /// job no scorer for longer than it waits for one).
    /// </summary>
    public static async Task<string[]> Victims(IClusterClient grains, IJobGrain job, LocalCluster cluster)
    {
        var spared = await ChaosRun.SiloOf(grains, job);
        var hosts = await SiloLoss.Retry(() => grains.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: true));
        var leases = await SiloLoss.Retry(() => grains.GetGrain<IDeviceDirectoryGrain>(0).Leases());
        var name = job.GetPrimaryKeyString();
        var working = leases.Where(l => l.Holder.Contains($"/{name}/")).Select(l => l.Silo).ToHashSet();
        var active = hosts.Where(h => working.Contains(h.SiloAddress.ToParsableString()) || cluster.Serves(h.SiloName, SiloRoles.Inference)).Select(h => h.SiloName).ToHashSet();
        return [.. cluster.Silos.Where(s => s != spared && active.Contains(s)).Order()];
    }

    /// <summary>
    /// Tells membership the killed silo is gone, as its supervisor would. The call goes through one of
    /// the client's gateways, which may be the killed silo: it is tried again (another gateway answers)
    /// for up to 10 s; after that (the cluster busy re-placing the last kill's grains) the silos' own
    /// probes declare it, and the run goes on.
    /// </summary>
    public static async Task Declare(IClusterClient grains, string silo)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            try
            {
                await grains.GetGrain<IClusterInfoGrain>(0).DeclareDead(silo).WaitAsync(deadline - DateTime.UtcNow);
                return;
            }
            catch (Exception e) when (SiloLoss.Is(e) && DateTime.UtcNow + TimeSpan.FromSeconds(0.5) < deadline)
            {
                await Task.Delay(TimeSpan.FromSeconds(0.5));
            }
            // Busy, or already declared by its probes.
            catch (Exception e) when (SiloLoss.Is(e) || e is ArgumentException)
            {
                AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss} {silo} not declared dead ({e.GetType().Name}): its probes will tell[/]");
                return;
            }
        }
    }
}

/// <summary>One emulated chaos run: its kills, and its steady state over the measured steps (emulated seconds).</summary>
public sealed record EmulatedChaosResult(string Run, IReadOnlyList<string> Kills, int Steps, double SecondsPerStep, double SamplesPerSecond,
    ChaosAccount Account, double WallSeconds, IReadOnlyList<double> StepSeconds);

/// <summary>What a chaos run's steps accounted for: samples lost and sent again (the tokens so far they carried, those taken back by workers back after a loss), replicas rebuilt.</summary>
public sealed record ChaosAccount(int Lost, int Resent, long TokensCarried, int TakenBack, int ReplicasRebuilt);
