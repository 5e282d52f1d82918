using System.ComponentModel;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Smoke;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Silo;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Runs a job with nothing else started: a silo is hosted in this process and the job runs on it.
/// Without a job file, the smoke job runs once and prints its proof.
/// </summary>
public sealed class RunCommand : AsyncCommand<RunCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[job.json]")]
        [Description("A job file; without one, the smoke job runs once and prints its proof.")]
        public string? File { get; init; }

        [CommandOption("--steps")]
        [Description("Training steps of the smoke job.")]
        [DefaultValue(200)]
        public int Steps { get; init; } = 200;

        [CommandOption("--seed")]
        [Description("Seed for data and initial weights.")]
        [DefaultValue(1L)]
        public long Seed { get; init; } = 1;

        [CommandOption("--resume")]
        [Description("Continue the job from its latest checkpoint in the store.")]
        public bool Resume { get; init; }

        [CommandOption("--metrics")]
        [Description("Where each iteration's metrics are appended as JSON lines (default runs/<job>/metrics.jsonl).")]
        public string? Metrics { get; init; }

        public override ValidationResult Validate() =>
            Steps is < 1 or > 100_000 ? ValidationResult.Error("--steps must be between 1 and 100000") : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        JobSpec? job = null;
        if (settings.File is not null && (job = await JobView.LoadAsync(settings.File, cancellationToken)) is null) return 2;
        using var host = await InProcessSilo.StartAsync(job, cancellationToken);
        try
        {
            var grains = host.Services.GetRequiredService<IGrainFactory>();
            if (job is not null)
            {
                var grain = grains.GetGrain<IJobGrain>(job.Name);
                await (settings.Resume ? grain.Resume(job) : grain.Submit(job));
                var metrics = settings.Metrics ?? Path.Combine("runs", job.Name, "metrics.jsonl");
                if (!settings.Resume && File.Exists(metrics))
                {
                    // A fresh run's metrics are its own, as its checkpoints are (an earlier run's are removed by the job).
                    File.Delete(metrics);
                    AnsiConsole.MarkupLine($"[grey]{Markup.Escape(metrics)}: an earlier run's metrics removed; this run writes its own[/]");
                }
                var (cursor, journal) = (new WatchCursor(), new MetricsJournal(metrics));
                // The host turns Ctrl-C and SIGTERM into "application stopping"; the silo stays up until it is stopped below.
                using var interrupted = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken,
                    host.Services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);
                JobStatus status;
                try
                {
                    status = await JobView.WatchAsync(grains, job.Name, interrupted.Token, journal, cursor);
                }
                catch (OperationCanceledException)
                {
                    // Ctrl-C: the job stops after its current iteration and checkpoints, so --resume goes on from there.
                    AnsiConsole.MarkupLine("[yellow]stopping after the current iteration...[/]");
                    await grain.Cancel();
                    status = await JobView.WatchAsync(grains, job.Name, CancellationToken.None, journal, cursor);
                }
                JobView.Print(status);
                return JobView.ExitCode(status);
            }
            var report = await AnsiConsole.Status().StartAsync("Running the smoke job on an in-process silo...",
                _ => grains.GetGrain<ISmokeGrain>("smoke").Run(new SmokeRequest(settings.Steps, settings.Seed)));
            Print(report);
            return report.ReloadMaxDifference == 0 && report.FinalLoss < report.InitialLoss ? 0 : 1;
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }
    }

    private static void Print(SmokeReport report)
    {
        var table = new Table().Title("Smoke job").AddColumns("measure", "value");
        table.AddRow("silo", report.Silo);
        table.AddRow("device", report.Device);
        table.AddRow("parameters", report.Parameters.ToString("N0"));
        table.AddRow("steps", report.Steps.ToString());
        table.AddRow("loss, first step", report.InitialLoss.ToString("G6"));
        table.AddRow("loss, last step", report.FinalLoss.ToString("G6"));
        table.AddRow("gradient norm, first step", report.FirstGradientNorm.ToString("G6"));
        table.AddRow("checkpoint (in the store)", Markup.Escape(report.CheckpointPath));
        table.AddRow("checkpoint bytes", report.CheckpointBytes.ToString("N0"));
        table.AddRow("checkpoint sha256", report.CheckpointSha256);
        table.AddRow("max |output - reloaded output|", report.ReloadMaxDifference.ToString("G6"));
        AnsiConsole.Write(table);
        AnsiConsole.MarkupLine(report.ReloadMaxDifference == 0 && report.FinalLoss < report.InitialLoss
            ? "[green]smoke job passed[/]: the loss fell and the checkpoint reloads exactly"
            : "[red]smoke job failed[/]");
    }
}
