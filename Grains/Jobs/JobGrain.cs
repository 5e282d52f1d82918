using Grains.Interfaces.Jobs;
using Grains.Interfaces.Smoke;
using Microsoft.Extensions.Logging;

namespace Grains.Jobs;

/// <summary>
/// Controls one job. Its iterations run in the background on the grain's own scheduler, so status
/// and cancel calls are answered between them; a keep-alive timer holds the activation while it runs.
/// </summary>
public sealed class JobGrain(ILogger<JobGrain> logger) : Grain, IJobGrain
{
    private JobSpec? spec;
    private JobStatus status = new("", JobState.NotSubmitted, 0, 0, null, "not submitted", null, null);
    private CancellationTokenSource? cancel;
    private IGrainTimer? keepAlive;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        status = status with { Job = this.GetPrimaryKeyString() };
        return Task.CompletedTask;
    }

    public Task<JobStatus> Submit(JobSpec submitted)
    {
        submitted = submitted.Validated();
        if (submitted.Name != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"job '{this.GetPrimaryKeyString()}' was sent a spec named '{submitted.Name}'");
        }
        if (spec is not null)
        {
            return spec == submitted ? Task.FromResult(status) : throw new InvalidOperationException($"job '{submitted.Name}' already exists with a different spec");
        }
        spec = submitted;
        cancel = new CancellationTokenSource();
        status = status with { State = JobState.Running, Iterations = submitted.Iterations, Message = "running", Started = DateTimeOffset.UtcNow };
        keepAlive = this.RegisterGrainTimer(() => Task.CompletedTask, new() { DueTime = TimeSpan.FromMinutes(1), Period = TimeSpan.FromMinutes(1), KeepAlive = true });
        _ = RunAsync(submitted, cancel.Token);
        return Task.FromResult(status);
    }

    public Task<JobStatus> Status() => Task.FromResult(status);

    public Task<JobStatus> Cancel()
    {
        if (status.State == JobState.Running)
        {
            cancel!.Cancel();
            status = status with { Message = "cancelling after the current iteration" };
        }
        return Task.FromResult(status);
    }

    private async Task RunAsync(JobSpec job, CancellationToken token)
    {
        try
        {
            for (var i = status.IterationsDone; i < job.Iterations; i++)
            {
                if (token.IsCancellationRequested)
                {
                    Finish(JobState.Cancelled, $"cancelled after {i} of {job.Iterations} iterations");
                    return;
                }
                var report = await GrainFactory.GetGrain<ISmokeGrain>($"{job.Name}").Run(new SmokeRequest(job.StepsPerIteration, job.Seed + i));
                status = status with { IterationsDone = i + 1, LastLoss = report.FinalLoss, Message = $"iteration {i + 1}: loss {report.InitialLoss:G4} -> {report.FinalLoss:G4}" };
            }
            Finish(JobState.Completed, $"completed {job.Iterations} iterations");
        }
        catch (Exception e)
        {
            logger.LogError(e, "job {Job} failed", job.Name);
            Finish(JobState.Failed, e.Message);
        }
    }

    private void Finish(JobState state, string message)
    {
        status = status with { State = state, Message = message, Finished = DateTimeOffset.UtcNow };
        keepAlive?.Dispose();
    }
}
