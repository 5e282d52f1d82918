using System.ComponentModel;
using System.Diagnostics;
using Client.Report;
using Grains.Interfaces.Jobs;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Writes a job's report page: its curves as charts, its last device timeline, every step's figures (<see cref="ReportPage"/>).</summary>
public sealed class ReportCommand : AsyncCommand<ReportCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<job>")]
        [Description("A job on the cluster, or a metrics.jsonl file (what `run` and `watch --metrics` write).")]
        public string Job { get; init; } = "";

        [CommandOption("--out")]
        [Description("The page to write (default: <job>-report.html).")]
        public string? Out { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var fromFile = File.Exists(settings.Job);
        var name = fromFile ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(settings.Job))) ?? settings.Job : settings.Job;
        Grains.Interfaces.Rl.IterationMetrics[] metrics;
        if (fromFile) metrics = await MetricsJournal.Read(settings.Job, cancellationToken);
        else
        {
            using var host = await settings.ConnectAsync(cancellationToken);
            metrics = await host.Cluster().GetGrain<IJobGrain>(settings.Job).Metrics(0);
        }
        if (metrics.Length == 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{settings.Job}: no iteration's metrics to report[/]");
            return 1;
        }
        var output = settings.Out ?? $"{name}-report.html";
        await File.WriteAllTextAsync(output, ReportPage.Build(name, metrics), cancellationToken);
        AnsiConsole.MarkupLineInterpolated($"[green]wrote {output}[/]: {metrics.Length} iterations, {new FileInfo(output).Length / 1024.0:N0} KiB, in {clock.Elapsed.TotalSeconds:F1} s");
        return 0;
    }
}
