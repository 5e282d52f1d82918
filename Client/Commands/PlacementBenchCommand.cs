using System.ComponentModel;
using System.Diagnostics;
using System.Runtime;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// The control plane's placement: an in-process silo declaring as many devices as there are grains, then
/// that many generation worker grains activated at once (each asks the device directory for a lease as it is
/// placed, and looks it up as it activates), timed until every one answers; then all vacated and their
/// leases waited back, and again. Each round first activates as many grains that own no device, so the
/// time Orleans itself takes is measured beside the device directory's. Prints each round's seconds.
/// Rounds are measured after a warm-up, as on a silo that has run a while: .NET compiles a method quickly
/// first and again optimised once it has been called often, in the background; measured, on two cores the
/// first dozen or so rounds of a fresh process ran code still being compiled (hundreds of methods a round),
/// at two to four times a settled round's time. The warm-up rounds are printed too (the first is what a
/// silo just started takes), with the methods compiled in each.
/// </summary>
public sealed class PlacementBenchCommand : AsyncCommand<PlacementBenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--grains")][Description("Device grains placed at once (and devices declared).")][DefaultValue(2048)] public int Grains { get; init; } = 2048;
        [CommandOption("--rounds")][Description("Rounds of placing and vacating measured after the warm-up.")][DefaultValue(10)] public int Rounds { get; init; } = 10;
        [CommandOption("--warm-up")][Description("Rounds first run and not counted, while the JIT optimises what runs often.")][DefaultValue(25)] public int WarmUp { get; init; } = 25;

        public override ValidationResult Validate() =>
            Grains < 1 || Rounds < 1 || WarmUp < 0 ? ValidationResult.Error("--grains and --rounds must be at least 1, --warm-up at least 0") : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        using var host = await InProcessSilo.StartAsync(null, cancellationToken, devices: s.Grains);
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);
        var table = new Table().AddColumns("round", "grains", "plain grains s", "device grains s", "ms / device grain", "vacated and released s", "methods JIT-compiled");
        var (placed, plain) = (new List<double>(), new List<double>());
        var compiled = JitInfo.GetCompiledMethodCount();
        for (var round = 0; round < s.WarmUp + s.Rounds; round++)
        {
            var probes = Enumerable.Range(0, s.Grains).Select(g => grains.GetGrain<IPlacementProbeGrain>($"placement-bench/r{round}/g{g}")).ToArray();
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(probes.Select(p => p.Silo()));
            var orleans = clock.Elapsed.TotalSeconds;
            await Task.WhenAll(probes.Select(p => p.Vacate()));
            var workers = Enumerable.Range(0, s.Grains).Select(g => grains.GetGrain<IGenerationWorkerGrain>($"placement-bench/r{round}/g{g}")).ToArray();
            clock.Restart();
            var leases = await Task.WhenAll(workers.Select(w => w.Device()));
            var placing = clock.Elapsed.TotalSeconds;
            if (leases.Select(l => (l.Silo, l.Device)).Distinct().Count() != s.Grains) throw new InvalidOperationException("two grains were given one device");
            clock.Restart();
            await Task.WhenAll(workers.Select(w => w.Vacate()));
            while ((await directory.Leases()).Count > 0) await Task.Delay(10, cancellationToken);
            var vacating = clock.Elapsed.TotalSeconds;
            var newlyCompiled = JitInfo.GetCompiledMethodCount() - compiled;
            compiled += newlyCompiled;
            if (round >= s.WarmUp) (placed, plain) = ([.. placed, placing], [.. plain, orleans]);
            table.AddRow(round >= s.WarmUp ? $"{round}" : $"{round} (warm-up)", $"{s.Grains:N0}", $"{orleans:F3}", $"{placing:F3}", $"{placing * 1000 / s.Grains:F3}", $"{vacating:F3}", $"{newlyCompiled:N0}");
        }
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine($"placement of {s.Grains:N0} device grains: median {Median(placed):F3} s over {placed.Count} rounds after {s.WarmUp} of warm-up (grains that own no device: {Median(plain):F3} s)");
        // Stopped, not only disposed: a disposed silo stops at once, its reminders and membership row mid-call (errors printed after the table).
        await host.StopAsync(CancellationToken.None);
        return 0;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
