using System.ComponentModel;
using Grains.Interfaces.Jobs;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

public class JobSettings : ClusterSettings
{
    [CommandArgument(0, "<job>")]
    [Description("The job's name.")]
    public string Job { get; init; } = "";
}

/// <summary>Validates a job file here, then starts the job on the cluster.</summary>
public sealed class SubmitCommand : AsyncCommand<SubmitCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<job.json>")]
        [Description("The job file.")]
        public string File { get; init; } = "";
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (await JobView.LoadAsync(settings.File, cancellationToken) is not { } spec) return 2;
        using var host = await settings.ConnectAsync(cancellationToken);
        var status = await host.Cluster().GetGrain<IJobGrain>(spec.Name).Submit(spec);
        AnsiConsole.MarkupLineInterpolated($"submitted job [bold]{spec.Name}[/]: {status.State}");
        return status.State is JobState.Failed or JobState.Cancelled ? 1 : 0;
    }
}

public sealed class StatusCommand : AsyncCommand<JobSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, JobSettings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        var grain = host.Cluster().GetGrain<IJobGrain>(settings.Job);
        var status = await grain.Status();
        if (status.State == JobState.NotSubmitted)
        {
            Console.Error.WriteLine($"error: no job named '{Markup.Escape(settings.Job)}' on the cluster");
            return 1;
        }
        JobView.Print(status, status.State == JobState.Running ? await grain.Generating() : null);
        return status.State == JobState.Failed ? 1 : 0;
    }
}

public sealed class WatchCommand : AsyncCommand<WatchCommand.Settings>
{
    public sealed class Settings : JobSettings
    {
        [CommandOption("--metrics")]
        [Description("Also append each iteration's metrics as a JSON line to this file.")]
        public string? Metrics { get; init; }

        [CommandOption("--prometheus-port")]
        [Description("Also serve the job's latest iteration (and the Orleans client's meter) for Prometheus at http://127.0.0.1:PORT/metrics while watching.")]
        public int? PrometheusPort { get; init; }

        public override ValidationResult Validate() => PrometheusPort is < 1 or > 65535
            ? ValidationResult.Error($"--prometheus-port: {PrometheusPort} is not a port (1-65535)") : base.Validate();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        using var gauges = settings.PrometheusPort is { } port ? new WatchMetrics(port) : null;
        var status = await JobView.WatchAsync(host.Cluster(), settings.Job, cancellationToken, settings.Metrics is { } file ? new MetricsJournal(file) : null, gauges: gauges);
        JobView.Print(status);
        return JobView.ExitCode(status);
    }
}

public sealed class CancelCommand : AsyncCommand<JobSettings>
{
    public override async Task<int> ExecuteAsync(CommandContext context, JobSettings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        JobView.Print(await host.Cluster().GetGrain<IJobGrain>(settings.Job).Cancel());
        return 0;
    }
}
