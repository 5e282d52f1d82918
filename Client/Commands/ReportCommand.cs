using System.ComponentModel;
using System.Diagnostics;
using System.Text.RegularExpressions;
using Client.Report;
using Microsoft.Extensions.Hosting;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Writes a job's report page: its curves as charts, its last device timeline, every step's figures (<see cref="ReportPage"/>);
/// given several jobs or files, one page that compares them (<see cref="ReportPage.Runs"/>). With --png, each chart also as a PNG file.
/// </summary>
public sealed partial class ReportCommand : AsyncCommand<ReportCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<jobs>")]
        [Description("A job on the cluster, or a metrics.jsonl file (what `run` and `watch --metrics` write); several to compare them on one page.")]
        public string[] Jobs { get; init; } = [];

        [CommandOption("--out")]
        [Description("The page to write (default: <job>-report.html, or <first>-compared.html for several).")]
        public string? Out { get; init; }

        [CommandOption("--png")]
        [Description("A folder to write each chart to as a PNG file as well (its title as the name: held-out-accuracy.png).")]
        public string? Png { get; init; }

        [CommandOption("--tail")]
        [Description("Compared runs: the held-out accuracy table ends with each run's mean over its last this many evaluations.")]
        [DefaultValue(10)]
        public int Tail { get; init; } = 10;

        public override ValidationResult Validate() =>
            Jobs.Length == 0 ? ValidationResult.Error("name a job or a metrics.jsonl file")
            : Tail < 1 ? ValidationResult.Error($"--tail must be at least 1 evaluation, not {Tail}")
            : base.Validate();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var runs = new List<(string Run, IterationMetrics[] Metrics)>();
        IHost? host = null;
        try
        {
            foreach (var job in settings.Jobs)
            {
                var fromFile = File.Exists(job);
                if (!fromFile) host ??= await settings.ConnectAsync(cancellationToken);
                var metrics = fromFile ? await MetricsJournal.Read(job, cancellationToken) : await host!.Cluster().GetGrain<IJobGrain>(job).Metrics(0);
                if (metrics.Length == 0)
                {
                    AnsiConsole.MarkupLineInterpolated($"[red]{job}: no iteration's metrics to report[/]");
                    return 1;
                }
                runs.Add((Unique(fromFile ? Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(job))) ?? job : job, runs), metrics));
            }
        }
        finally
        {
            host?.Dispose();
        }
        var (charts, output) = runs.Count == 1
            ? (ReportCharts.Draw(runs[0].Metrics), settings.Out ?? $"{runs[0].Run}-report.html")
            : (ReportCharts.Runs(runs), settings.Out ?? $"{runs[0].Run}-compared.html");
        await File.WriteAllTextAsync(output, runs.Count == 1 ? ReportPage.Build(runs[0].Run, runs[0].Metrics, charts) : ReportPage.Runs(runs, charts, settings.Tail), cancellationToken);
        AnsiConsole.MarkupLineInterpolated($"[green]wrote {output}[/]: {runs.Count} run(s), {runs.Sum(r => r.Metrics.Length)} iterations, {new FileInfo(output).Length / 1024.0:N0} KiB, in {clock.Elapsed.TotalSeconds:F1} s");
        if (settings.Png is { } folder)
        {
            Directory.CreateDirectory(folder);
            foreach (var (title, png) in charts) await File.WriteAllBytesAsync(Path.Combine(folder, $"{FileName(title)}.png"), png, cancellationToken);
            AnsiConsole.MarkupLineInterpolated($"[green]wrote {charts.Count} charts to {folder}[/]");
        }
        return 0;
    }

    /// <summary>A run's name, with " (2)" and so on after a name an earlier run has (two seeds' files in folders of one name).</summary>
    private static string Unique(string name, List<(string Run, IterationMetrics[] Metrics)> before)
    {
        var candidate = name;
        for (var n = 2; before.Any(r => r.Run == candidate); n++) candidate = $"{name} ({n})";
        return candidate;
    }

    /// <summary>A chart's title as a file name: lower case, each run of other characters a hyphen ("Held-out accuracy" -> held-out-accuracy).</summary>
    public static string FileName(string title) => NotWord().Replace(title.ToLowerInvariant(), "-").Trim('-');

    [GeneratedRegex("[^a-z0-9]+")]
    private static partial Regex NotWord();
}
