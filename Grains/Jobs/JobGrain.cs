using Grains.Interfaces.Cluster;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Interfaces.Smoke;
using Grains.Iteration;
using Grains.Models;
using Grains.Preference;
using Kernels.Tasks;
using Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Grains.Jobs;

/// <summary>
/// Controls one job. Its iterations run in the background on the grain's own scheduler, so status,
/// cancel, metrics and the sample grains' reports are answered between them; a keep-alive timer holds
/// the activation while it runs. The job's spec and state are in the ledger: a job grain re-activated
/// after its silo's loss finds itself running and goes on from the last checkpoint, as it does when a
/// silo its trainers or scorers were on is lost mid-step.
/// </summary>
public sealed class JobGrain([PersistentState("job", Ledger.Storage)] IPersistentState<JobLedgerEntry> ledger, ICheckpointStore store,
    IClusterMembershipService membership, ILogger<JobGrain> logger) : Grain, IJobGrain, IRemindable
{
    /// <summary>A running job's reminder: it re-activates the job grain after its silo's loss, even with nobody watching.</summary>
    private const string RunningReminder = "running";

    /// <summary>Silo losses a run goes on after; past them the job fails with the last one's error.</summary>
    public const int MaxRecoveries = 5;

    private JobSpec? spec;
    private JobStatus status = new("", JobState.NotSubmitted, 0, 0, null, "not submitted", null, null);
    private CancellationTokenSource? cancel;
    // Cancelled when the run finishes: ends its watch of the cluster's membership.
    private CancellationTokenSource? watching;
    private IGrainTimer? keepAlive;
    private RlJobRunner? runner;
    private readonly List<IterationMetrics> metrics = [];
    // How many of the latest iterations' metrics are held whole, and up to which iteration the timelines were let go.
    private const int WholeMetrics = 64;
    private int? timelinesLetGoThrough;
    private Task writes = Task.CompletedTask;
    // Four steps of the emulated 1,024-sample workloads' 4,096 responses, a few hundred bytes each.
    private TrainedSamples trained = new(16_384);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        status = status with { Job = this.GetPrimaryKeyString() };
        // What the ledger holds of a cluster that has since stopped as a whole is history: a submit runs
        // afresh (the checkpoints' own rules apply) and --resume goes on from the last checkpoint.
        if (ledger.State.Spec is null || !ledger.State.Silos.Any(s => Active.Contains(s))) return;
        (spec, status) = (ledger.State.Spec, ledger.State.Status!);
        if (status.State != JobState.Running) return;
        // The activation that ran this job was lost with its silo: this one goes on without a command.
        logger.LogWarning("job {Job} was running on a silo that was lost; going on from its last checkpoint", spec.Name);
        if (spec.Kind != JobKind.Smoke)
        {
            metrics.AddRange(await new JobMetricsLog(spec, store).Load());
            HoldRecentWhole();
        }
        status = status with { Recoveries = status.Recoveries + 1 };
        Begin(spec, RunStart.Recover, "its silo was lost: going on from the last checkpoint");
    }

    public Task<JobStatus> Submit(JobSpec submitted) => Start(submitted, resume: false);

    public Task<JobStatus> Resume(JobSpec submitted) => Start(submitted, resume: true);

    public Task<JobStatus> Status() => Task.FromResult(status);

    public Task<JobSpec?> Spec() => Task.FromResult(spec);

    public Task<JobStatus> Cancel()
    {
        if (status.State == JobState.Running)
        {
            cancel!.Cancel();
            status = status with { Message = "cancelling after the current iteration" };
        }
        return Task.FromResult(status);
    }

    /// <summary>The metrics from an iteration on: from memory, or whole from their objects in the store where older ones' timelines are let go (<see cref="HoldRecentWhole"/>).</summary>
    public async Task<IterationMetrics[]> Metrics(int fromIteration)
    {
        if (timelinesLetGoThrough is not { } through || fromIteration > through || spec is null || metrics.Count == 0) return [.. metrics.Where(m => m.Iteration >= fromIteration)];
        // The store may hold iterations a replay has not reached again yet: the held ones say where the run is.
        var last = metrics[^1].Iteration;
        return [.. (await new JobMetricsLog(spec, store).Load(fromIteration)).Where(m => m.Iteration <= last)];
    }

    public Task SampleReached(string sampleId, SampleStage stage, SampleRecord? scored)
    {
        runner?.SampleReached(sampleId, stage, scored);
        return Task.CompletedTask;
    }

    public Task SamplesProgressed(GenerationWork[] progress)
    {
        runner?.SamplesProgressed(progress);
        return Task.CompletedTask;
    }

    public Task WorkerDrained(string worker) =>
        runner?.WorkerDrained(worker) ?? GrainFactory.GetGrain<IGenerationWorkerGrain>(worker).Vacate();

    public Task<GeneratingSample[]> Generating() => Task.FromResult(runner?.Generating() ?? []);

    public Task<SampleRecord?> TrainedRecord(string sampleId) => Task.FromResult(trained.Find(sampleId));

    public Task<SampleRecord[]> TrainedRecords(int iteration) => Task.FromResult(trained.Of(iteration));

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
        if (submitted.Rl is { Emulated: true })
        {
            var emulated = new EmulatedJob(submitted);
            // A throughput the most devices cannot reach is refused now, not found out once the job runs.
            if (submitted.Rl.Pools is { Split: PoolSplit.Target }) emulated.CheckTarget();
        }
        if (resume && submitted.Kind == JobKind.Smoke) throw new ArgumentException($"only rl and dpo jobs resume; '{submitted.Name}' is a smoke job");
        if (submitted.Kind == JobKind.Dpo)
        {
            // A pairs file that cannot be trained on is refused now, naming its line, not found out once the job runs.
            var model = submitted.Rl!.Model;
            PreferenceData.Check(submitted, new TaskEncoding(ModelCatalog.Tokenizer(model)), ModelCatalog.Config(model).MaxPositions);
        }
        if (submitted.Rl?.Tools?.Documents is { } documents)
        {
            // Found out now, naming the line, not by each search of a running job.
            try
            {
                Kernels.Tools.DocumentSearch.ReadDocuments(documents);
            }
            catch (Exception e) when (e is IOException or InvalidDataException)
            {
                throw new ArgumentException($"rl.tools.documents: {e.Message}");
            }
        }
        if (submitted.Rl is { Reward: RewardSource.Model, RewardModel: { } rewardModel } && await store.GetAsync(rewardModel) is null)
        {
            throw new ArgumentException($"rl.rewardModel: '{rewardModel}' is not in the checkpoint store");
        }
        if (submitted.Rl is { Emulated: false, Model: var folder } && ModelCatalog.IsFolder(folder))
        {
            // A folder's config, tokenizer and weights are read now, naming what does not fit, not by the job's first trainer.
            try
            {
                // Off the grain's turn: a folder's weights take a moment to read and load.
                await Task.Run(() => ModelCatalog.ImportFolder(folder));
            }
            catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException or UnauthorizedAccessException)
            {
                throw new ArgumentException($"rl.model: {e.Message}", e);
            }
        }
        if (submitted.Rl?.InitialWeights is { } initial) await CheckInStore("rl.initialWeights", initial);
        if (submitted.Dpo?.Reference is { } reference) await CheckInStore("dpo.reference", reference);
        spec = submitted;
        metrics.Clear();
        timelinesLetGoThrough = null;
        status = status with { State = JobState.Running, Iterations = submitted.Iterations, Message = "running", Started = DateTimeOffset.UtcNow, Finished = null, Recoveries = 0, Notices = [] };
        ledger.State.Spec = spec;
        await Record();
        Begin(submitted, resume ? RunStart.Resume : RunStart.Fresh, "running");
        return status;
    }

    /// <summary>A job's setting that names a checkpoint-store object: a valid name, and there.</summary>
    private async Task CheckInStore(string field, string name)
    {
        try
        {
            CheckpointStoreExtensions.CheckName(name);
        }
        catch (ArgumentException e)
        {
            throw new ArgumentException($"{field}: {e.Message}", e);
        }
        if (await store.GetAsync(name) is null) throw new ArgumentException($"{field}: '{name}' is not in the checkpoint store");
    }

    private void Begin(JobSpec job, RunStart from, string message)
    {
        cancel = new CancellationTokenSource();
        status = status with { Message = message };
        // Held while the job runs; each minute it records the silos then alive, so the job knows, once
        // re-activated, whether the cluster lived on (a silo was lost) or stopped as a whole.
        keepAlive = this.RegisterGrainTimer(Record, new() { DueTime = TimeSpan.FromMinutes(1), Period = TimeSpan.FromMinutes(1), KeepAlive = true });
        this.RegisterOrUpdateReminder(RunningReminder, TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(1)).Ignore();
        watching = new CancellationTokenSource();
        _ = WatchMembership(watching.Token);
        _ = job.Kind == JobKind.Smoke ? RunSmokeAsync(job, cancel.Token) : RunTrainingAsync(job, from, cancel.Token);
    }

    /// <summary>While the job runs, each change of the cluster's membership (a silo joined, went, was declared dead) is told to its runner.</summary>
    private async Task WatchMembership(CancellationToken token)
    {
        try
        {
            await foreach (var _ in membership.MembershipUpdates.WithCancellation(token)) runner?.MembershipChanged();
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    /// <summary>An RL or DPO job's run, going on from its last checkpoint after a silo's loss, up to <see cref="MaxRecoveries"/> times.</summary>
    private async Task RunTrainingAsync(JobSpec job, RunStart from, CancellationToken token)
    {
        var (state, outcome) = (JobState.Failed, "");
        IJobRun? run = null;
        for (var recoveries = 0; ; recoveries++)
        {
            try
            {
                // A run that goes on from a checkpoint trains its steps' samples again: no record of the run before answers for them.
                trained = new TrainedSamples(trained.Capacity);
                run = job.Kind == JobKind.Dpo ? new DpoJobRunner(job, GrainFactory, store, logger, Reported)
                    : runner = new RlJobRunner(job, GrainFactory, store, logger, Reported, trained.Add, notice => status = status.Noticed(notice));
                await run.RunAsync(from, (done, message) => status = status with { IterationsDone = done, Message = message }, token);
                (state, outcome) = token.IsCancellationRequested
                    ? (JobState.Cancelled, $"cancelled after {status.IterationsDone} of {job.Iterations} iterations")
                    : (JobState.Completed, $"completed {job.Iterations} iterations; {status.Message}");
                break;
            }
            // A role with no silo left was waited for (SiloLoss.RetryFor) already: the job fails naming it.
            catch (Exception e) when (SiloLoss.Is(e) && !NoSiloForRoleException.In(e) && recoveries < MaxRecoveries && !token.IsCancellationRequested)
            {
                // A silo the step needed (a trainer's, a scorer's) was lost: the run repeats from the last
                // checkpoint, bit for bit, on the grains' new activations.
                logger.LogWarning(e, "job {Job}: a silo was lost; going on from the last checkpoint", job.Name);
                status = status with { Message = $"a silo was lost ({e.GetBaseException().Message}): going on from the last checkpoint", Recoveries = status.Recoveries + 1 };
                from = RunStart.Recover;
                await Task.Delay(SiloLoss.RetryDelay);
            }
            catch (Exception e)
            {
                logger.LogError(e, "job {Job} failed", job.Name);
                outcome = e.Message;
                break;
            }
        }
        // A finished job's devices go to the next job, before anyone hears it has finished.
        try
        {
            if (run is not null) await run.ReleaseDevices();
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

    /// <summary>An iteration's metrics; a run repeating iterations after a silo's loss replaces them (they are the same).</summary>
    private void Reported(IterationMetrics m)
    {
        metrics.RemoveAll(x => x.Iteration >= m.Iteration);
        metrics.Add(m);
        HoldRecentWhole();
        if (m.Iteration > 0) status = status with { LastLoss = m.PolicyLoss };
    }

    /// <summary>
    /// Lets go of the device timelines (a bar per device and stage: ~170 KB of JSON an iteration on 256
    /// emulated devices) of all but the latest <see cref="WholeMetrics"/> iterations: held by the hundred,
    /// they grew the job grain's silo through an hour-long soak. Their objects in the store keep them whole.
    /// </summary>
    private void HoldRecentWhole()
    {
        for (var k = metrics.Count - WholeMetrics - 1; k >= 0 && metrics[k].Timeline.Length > 0; k--)
        {
            timelinesLetGoThrough = Math.Max(timelinesLetGoThrough ?? 0, metrics[k].Iteration);
            metrics[k] = metrics[k] with { Timeline = [] };
        }
    }

    private void Finish(JobState state, string message)
    {
        status = status with { State = state, Message = message, Finished = DateTimeOffset.UtcNow };
        keepAlive?.Dispose();
        watching?.Cancel();
        Record().Ignore();
        DropReminder().Ignore();
    }

    /// <summary>The activation is what the reminder is for (<see cref="OnActivateAsync"/> goes on with a running job); a finished job drops it.</summary>
    public Task ReceiveReminder(string reminderName, TickStatus status) =>
        reminderName == RunningReminder && this.status.State != JobState.Running ? DropReminder() : Task.CompletedTask;

    private async Task DropReminder()
    {
        if (await this.GetReminder(RunningReminder) is { } reminder) await this.UnregisterReminder(reminder);
    }

    private string[] Active => [.. membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToParsableString())];

    /// <summary>The job's status and the live silos into the ledger, one write at a time.</summary>
    private Task Record()
    {
        writes = writes.ContinueWith(async _ =>
        {
            (ledger.State.Status, ledger.State.Silos) = (status, Active);
            await ledger.WriteStateAsync();
        }, CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Current).Unwrap();
        return writes;
    }
}

/// <summary>A job grain's state in the ledger: what was submitted and where it stands.</summary>
[GenerateSerializer]
public sealed class JobLedgerEntry
{
    [Id(0)] public JobSpec? Spec { get; set; }
    [Id(1)] public JobStatus? Status { get; set; }
    /// <summary>The silos alive when it was last written: none of them alive now means the whole cluster stopped since.</summary>
    [Id(2)] public string[] Silos { get; set; } = [];
}
