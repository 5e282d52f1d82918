using Grains.Interfaces.Jobs;
using Spectre.Console;

namespace Client.Commands;

/// <summary>How the client shows a job: a status table, or live progress until it ends.</summary>
public static class JobView
{
    public static void Print(JobStatus status)
    {
        var table = new Table().Title($"Job {Markup.Escape(status.Job)}").AddColumns("field", "value");
        table.AddRow("state", status.State.ToString());
        table.AddRow("iterations", $"{status.IterationsDone}/{status.Iterations}");
        table.AddRow("last loss", status.LastLoss?.ToString("G6") ?? "-");
        table.AddRow("message", Markup.Escape(status.Message));
        table.AddRow("started", status.Started?.ToString("u") ?? "-");
        table.AddRow("finished", status.Finished?.ToString("u") ?? "-");
        AnsiConsole.Write(table);
    }

    /// <summary>Shows progress until the job ends; returns its last status.</summary>
    public static async Task<JobStatus> WatchAsync(IGrainFactory grains, string job, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IJobGrain>(job);
        var status = await grain.Status();
        if (status.State == JobState.NotSubmitted) return status;
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
            .StartAsync(async context =>
            {
                var bar = context.AddTask(Markup.Escape(job), maxValue: Math.Max(1, status.Iterations));
                while (true)
                {
                    bar.Value = status.IterationsDone;
                    bar.Description = Markup.Escape($"{job}: {status.Message}");
                    if (status.IsFinished) break;
                    await Task.Delay(500, cancellationToken);
                    status = await grain.Status();
                }
            });
        return status;
    }

    public static int ExitCode(JobStatus status) => status.State == JobState.Completed ? 0 : 1;

    /// <summary>Reads and validates a job file; on bad input prints what is wrong and returns null.</summary>
    public static async Task<JobSpec?> LoadAsync(string file, CancellationToken cancellationToken)
    {
        try
        {
            return JobSpec.FromJson(await File.ReadAllTextAsync(file, cancellationToken), file);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return null;
        }
    }
}
