using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Interfaces.Smoke;
using Grains.Iteration;
using Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Grains.Jobs;

/// <summary>
/// Controls one job. Its iterations run in the background on the grain's own scheduler, so status,
/// cancel, metrics and the sample grains' reports are answered between them; a keep-alive timer holds
/// the activation while it runs.
/// </summary>
public sealed class JobGrain(ICheckpointStore store, ILogger<JobGrain> logger) : Grain, IJobGrain
{
    private JobSpec? spec;
    private JobStatus status = new("", JobState.NotSubmitted, 0, 0, null, "not submitted", null, null);
    private CancellationTokenSource? cancel;
    private IGrainTimer? keepAlive;
    private RlJobRunner? runner;
    private readonly List<IterationMetrics> metrics = [];

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        status = status with { Job = this.GetPrimaryKeyString() };
        return Task.CompletedTask;
    }

    public Task<JobStatus> Submit(JobSpec submitted) => Start(submitted, resume: false);

    public Task<JobStatus> Resume(JobSpec submitted) => Start(submitted, resume: true);

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

    public Task<IterationMetrics[]> Metrics(int fromIteration) => Task.FromResult(metrics.Where(m => m.Iteration >= fromIteration).ToArray());

    public Task SampleReached(string sampleId, SampleStage stage)
    {
        runner?.SampleReached(sampleId, stage);
        return Task.CompletedTask;
    }

    private async Task<JobStatus> Start(JobSpec submitted, bool resume)
    {
        submitted = submitted.Validated();
        if (submitted.Name != this.GetPrimaryKeyString())
        {
            throw new ArgumentException($"job '{this.GetPrimaryKeyString()}' was sent a spec named '{submitted.Name}'");
        }
        // A stopped job (finished, failed or cancelled) may be resumed, with more iterations for instance.
        if (spec is not null && !(resume && status.IsFinished))
        {
            return spec == submitted ? status : throw new InvalidOperationException($"job '{submitted.Name}' already exists with a different spec");
        }
        // An emulated job's names (device class, shapes, link, lengths) are checked here, where the cost model is known.
        if (submitted.Rl is { Emulated: true }) _ = new EmulatedJob(submitted);
        if (resume && submitted.Kind != JobKind.Rl) throw new ArgumentException($"only rl jobs resume; '{submitted.Name}' is a {SpecNames.Of(submitted.Kind)} job");
        if (submitted.Rl is { Reward: RewardSource.Model, RewardModel: { } rewardModel } && await store.GetAsync(rewardModel) is null)
        {
            throw new ArgumentException($"rl.rewardModel: '{rewardModel}' is not in the checkpoint store");
        }
        spec = submitted;
        metrics.Clear();
        cancel = new CancellationTokenSource();
        status = status with { State = JobState.Running, Iterations = submitted.Iterations, Message = "running", Started = DateTimeOffset.UtcNow, Finished = null };
        keepAlive = this.RegisterGrainTimer(() => Task.CompletedTask, new() { DueTime = TimeSpan.FromMinutes(1), Period = TimeSpan.FromMinutes(1), KeepAlive = true });
        _ = submitted.Kind == JobKind.Rl ? RunRlAsync(submitted, resume, cancel.Token) : RunSmokeAsync(submitted, cancel.Token);
        return status;
    }

    private async Task RunRlAsync(JobSpec job, bool resume, CancellationToken token)
    {
        var (state, outcome) = (JobState.Failed, "");
        try
        {
            runner = new RlJobRunner(job, GrainFactory, store, logger, m =>
            {
                metrics.Add(m);
                if (m.Iteration > 0) status = status with { LastLoss = m.PolicyLoss };
            });
            await runner.RunAsync(resume, (done, message) => status = status with { IterationsDone = done, Message = message }, token);
            (state, outcome) = token.IsCancellationRequested
                ? (JobState.Cancelled, $"cancelled after {status.IterationsDone} of {job.Iterations} iterations")
                : (JobState.Completed, $"completed {job.Iterations} iterations; {status.Message}");
        }
        catch (Exception e)
        {
            logger.LogError(e, "job {Job} failed", job.Name);
            outcome = e.Message;
        }
        // A finished job's devices go to the next job, before anyone hears it has finished.
        try
        {
            if (runner is not null) await runner.ReleaseDevices();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "job {Job} could not give back all its devices", job.Name);
        }
        Finish(state, outcome);
    }

    private async Task RunSmokeAsync(JobSpec job, CancellationToken token)
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
