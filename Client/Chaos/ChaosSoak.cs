using System.Diagnostics;
using System.Text;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;

namespace Client.Chaos;

/// <summary>
/// The soak: one long run of the job on a chaos cluster, a random silo SIGKILLed and replaced every
/// <paramref name="killEvery"/>, the silo processes' resident memory and managed heap and the cluster's activations read
/// every half minute. A leak shows as memory or activations that keep rising across steps.
/// </summary>
public sealed class ChaosSoak(LocalCluster cluster, JobSpec template, TimeSpan duration, TimeSpan killEvery, long seed, int machineDevices)
{
    private static readonly TimeSpan SampleEvery = TimeSpan.FromSeconds(30);

    public async Task<(string Markdown, bool Healthy)> Run(CancellationToken cancellationToken)
    {
        var clusterId = $"chaos-soak-{Guid.NewGuid():N}"[..20];
        var job = template with { Name = $"{template.Name}-soak", Iterations = 1_000_000 };
        cluster.StartLayout(clusterId, LocalCluster.LayoutFor(job, machineDevices), job.Rl!.Emulated ? Path.Combine(cluster.Work, $"{clusterId}-store") : null);
        try
        {
            using var host = await cluster.ConnectAsync(clusterId, cancellationToken);
            var grains = host.Services.GetRequiredService<IClusterClient>();
            var grain = grains.GetGrain<IJobGrain>(job.Name);
            await grain.Submit(job);
            var random = new Random(unchecked((int)seed));
            var (clock, readings, kills, next) = (Stopwatch.StartNew(), new List<SoakReading>(), new List<string>(), 0);
            var (nextReading, nextKill) = (TimeSpan.Zero, killEvery);
            var status = await SiloLoss.Retry(grain.Status);
            while (clock.Elapsed < duration && !status.IsFinished)
            {
                if (clock.Elapsed >= nextReading)
                {
                    var silos = await SiloLoss.Retry(() => grains.GetGrain<IClusterInfoGrain>(0).Silos());
                    readings.Add(new SoakReading(clock.Elapsed.TotalMinutes, status.IterationsDone, silos.Where(s => s.Activations > 0).Sum(s => s.Activations),
                        cluster.Silos.Select(n => (n, cluster.MemoryMiB(n))).Where(m => m.Item2 is not null).ToDictionary(m => m.n, m => m.Item2!.Value),
                        await HeapMiB(grains)));
                    nextReading += SampleEvery;
                }
                // An emulated job keeps no checkpoint: its job grain's loss would start it again, so its silo is spared.
                var victims = clock.Elapsed < nextKill ? [] : job.Rl!.Emulated ? await EmulatedChaos.Victims(grains, grain, cluster) : cluster.Silos.Order().ToArray();
                if (victims.Length > 0)
                {
                    var victim = victims[random.Next(victims.Length)];
                    var (roles, devices) = cluster.Kill(victim);
                    if (job.Rl!.Emulated) await EmulatedChaos.Declare(grains, victim);
                    cluster.StartSilo(clusterId, $"{victim.Split('~')[0]}~{++next}", roles, devices);
                    kills.Add($"{clock.Elapsed.TotalMinutes:F1} min: {victim} ({roles})");
                    AnsiConsole.MarkupLineInterpolated($"[grey]{DateTime.Now:HH:mm:ss} soak: killed {victim} ({roles}) at iteration {status.IterationsDone}; a new one starts[/]");
                    // Kills missed while the loop waited on a busy cluster are not made up in a burst.
                    nextKill = nextKill + killEvery > clock.Elapsed ? nextKill + killEvery : clock.Elapsed + killEvery / 2;
                }
                await Task.Delay(1000, cancellationToken);
                status = await SiloLoss.Retry(grain.Status);
            }
            var failed = status.IsFinished ? status.Message : null;
            if (!status.IsFinished) await SiloLoss.Retry(grain.Cancel);
            for (var i = 0; i < 600 && !status.IsFinished; i++)
            {
                await Task.Delay(1000, cancellationToken);
                status = await SiloLoss.Retry(grain.Status);
            }
            var metrics = await SiloLoss.Retry(() => grain.Metrics(0));
            var lost = metrics.Sum(m => m.Ledger?.Lost ?? 0);
            return Report(readings, kills, metrics.Length - 1, lost, failed);
        }
        finally
        {
            cluster.StopSilos();
        }
    }

    /// <summary>
    /// Each active silo's managed heap in MiB, as the silo's runtime statistics give it (the GC's heap with its
    /// fragmentation); a silo that does not answer within two seconds is left out of this reading.
    /// </summary>
    private static async Task<Dictionary<string, double>> HeapMiB(IClusterClient grains)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var heap = new Dictionary<string, double>();
        foreach (var host in await SiloLoss.Retry(() => management.GetDetailedHosts(onlyActive: true)))
        {
            try
            {
                var statistics = await management.GetRuntimeStatistics([host.SiloAddress]).WaitAsync(TimeSpan.FromSeconds(2));
                heap[host.SiloName] = statistics[0].EnvironmentStatistics.RawMemoryUsageBytes / 1048576.0;
            }
            catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                // Killed and not yet declared dead.
            }
        }
        return heap;
    }

    /// <summary>The readings as a table, and <see cref="SoakVerdict"/>'s verdict.</summary>
    private static (string, bool) Report(List<SoakReading> readings, List<string> kills, int iterations, int lost, string? failed)
    {
        var text = new StringBuilder();
        text.AppendLine("| minute | iterations done | activations | each silo process: resident memory / managed heap (MiB) |");
        text.AppendLine("|---|---|---|---|");
        foreach (var r in readings)
        {
            text.AppendLine($"| {r.Minutes:F1} | {r.Iterations} | {r.Activations} | {string.Join(", ", r.ResidentMiB.OrderBy(m => m.Key).Select(m => $"{m.Key} {m.Value:F0}/{(r.HeapMiB.TryGetValue(m.Key, out var heap) ? heap.ToString("F0") : "-")}"))} |");
        }
        var growth = SoakVerdict.Growth(readings);
        var activations = SoakVerdict.Activations(readings);
        text.AppendLine();
        text.AppendLine($"Kills: {(kills.Count == 0 ? "none" : string.Join("; ", kills))}.");
        text.AppendLine($"{iterations} iterations trained, {lost} samples lost{(failed is null ? "" : $"; the job stopped: {failed}")}.");
        text.AppendLine(growth.Count == 0
            ? "Memory growth: no process lived fifteen minutes (run longer, or kill less often)."
            : $"Memory growth of each process that lived fifteen minutes, the mean of its last five minutes over that of its minutes 5-10, resident (managed heap): {string.Join(", ", growth.Select(g => $"{g.Silo} {g.Resident:+0.0%;-0.0%} ({(g.Heap is { } h ? h.ToString("+0.0%;-0.0%") : "-")}) over {g.Minutes:F0} min"))}.");
        text.AppendLine(activations is { } a ? $"Activations, the mean of the last ten minutes over that of minutes 5-15: {a:+0.0%;-0.0%}." : "Activations: too short a run to compare.");
        return (text.ToString(), SoakVerdict.Healthy(growth, activations, lost, failed));
    }
}
