using System.ComponentModel;
using System.Globalization;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Sizes an emulated asynchronous workload's pools to throughput targets without running it (rl.pools
/// split target): for each target, the cheapest generation workers and training replicas the job would
/// start with, the devices by class, their cost an hour and the simulated step; a target the most devices
/// miss is shown with the reason submit would give. What to run before asking for devices.
/// </summary>
public sealed class SizeCommand : AsyncCommand<SizeCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<workload.json>")][Description("An asynchronous rl job file with devices 'emulated'; its generationWorkers and trainingReplicas are the most the pools may use.")] public string File { get; init; } = "";
        [CommandOption("--targets")][Description("Comma-separated trained samples a second (default: the file's rl.pools.samplesPerSecond).")] public string? Targets { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var loaded = await JobView.LoadAsync(settings.File, cancellationToken);
        if (loaded is null) return 2;
        if (Targets(settings, loaded) is not { } targets) return 2;
        var table = new Table().AddColumns("samples/s", "generation workers", "training replicas", "devices", "cost / hour", "simulated s / step", "trained samples / unit cost");
        var refused = new List<string>();
        foreach (var target in targets)
        {
            var job = loaded with { Rl = loaded.Rl! with { Pools = new PoolsSpec { Split = PoolSplit.Target, SamplesPerSecond = target } } };
            try
            {
                var emulated = new EmulatedJob(job.Validated());
                var sized = emulated.SizedPools();
                var ran = emulated.WithPools(new PoolSizes(sized.GenerationWorkers, sized.TrainingReplicas));
                var samples = job.Rl!.PromptsPerIteration * job.Rl.SamplesPerPrompt;
                table.AddRow($"{target:G}", $"{sized.GenerationWorkers}", $"{sized.TrainingReplicas}",
                    BenchCommand.DevicesOf(ran),
                    ran.CostPerHour is { } cost ? $"{cost:N1}" : "-", $"{sized.Seconds:F1}",
                    ran.CostPerHour is { } c ? $"{samples / sized.Seconds * 3600 / c:N1}" : "-");
            }
            catch (ArgumentException e)
            {
                refused.Add($"{target:G}: {e.Message}");
            }
        }
        // Redirected output (a log, CI) would otherwise be cut to 80 columns.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 220);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(loaded.Name)}[/]: pools sized to each target at rl.async.maxStaleness {loaded.Rl!.Staleness}, simulated over the first {loaded.Rl.Staleness + 9} steps' lengths");
        if (table.Rows.Count > 0) AnsiConsole.Write(table);
        foreach (var line in refused) AnsiConsole.MarkupLine($"[red]{Markup.Escape(line)}[/]");
        return 0;
    }

    /// <summary>The targets asked for, or the file's; null (after saying why) when there are none or one is not a positive number.</summary>
    private static double[]? Targets(Settings settings, JobSpec workload)
    {
        if (workload.Rl is not { Emulated: true }) return Refuse($"{settings.File}: size simulates emulated devices; set rl.devices to \"emulated\"");
        if (settings.Targets is null)
        {
            return workload.Rl.Pools?.SamplesPerSecond is { } given ? [given] : Refuse($"{settings.File}: no rl.pools.samplesPerSecond; give --targets");
        }
        var parts = settings.Targets.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var targets = parts.Select(p => double.TryParse(p, NumberStyles.Float, CultureInfo.InvariantCulture, out var t) && double.IsFinite(t) && t > 0 ? t : double.NaN).ToArray();
        return targets.Length > 0 && targets.All(double.IsFinite) ? targets : Refuse($"--targets: '{settings.Targets}' is not a comma-separated list of positive samples a second");
    }

    private static double[]? Refuse(string message)
    {
        AnsiConsole.MarkupLine($"[red]{Markup.Escape(message)}[/]");
        return null;
    }
}
