using System.Diagnostics;
using Grains.Cluster;
using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;
using Grains.Models;
using Grains.Storage;
using Kernels.Rl;
using Kernels.Tasks;
using Microsoft.Extensions.Logging;

namespace Grains.Iteration;

/// <summary>How a run begins: afresh; from the latest checkpoint (--resume); or after a silo's loss, from the latest checkpoint if there is one, else afresh.</summary>
public enum RunStart { Fresh, Resume, Recover }

/// <summary>
/// The iterations of one RL job, run by its job grain. Each: the plan draws the step's samples, the
/// rollout scheduler generates and scores them as its policies say, advantages are estimated over
/// the step, the trainer backend takes miniBatches x epochs optimizer steps, and the new weights go
/// to the workers with their version. With rl.async's maxStaleness k, step i's rollout is launched as
/// soon as weights version i - 1 - k exist and is generated with them, so up to k steps generate while
/// one trains (fewer with runAhead needed, <see cref="RunAheadLimit"/>; k = 0: synchronous: step i + 1 is launched once version i is loaded on the workers, while step i's
/// samples are still told they were trained and its held-out evaluation runs). On emulated devices the same loop runs on response lengths: no
/// dataset, warm start, evaluation or checkpoints, and no advantages (there are no tokens to give them to).
/// </summary>
/// <param name="notice">What the job goes on without (a worker stopped, a damaged checkpoint passed over): kept in its status.</param>
public sealed class RlJobRunner(JobSpec job, IGrainFactory grains, ICheckpointStore store, ILogger logger, Action<IterationMetrics> report,
    Action<IReadOnlyList<SampleRecord>> trainedSamples, Action<string> notice) : IJobRun
{
    private readonly RlSpec rl = job.Rl!;
    private readonly JobKeys keys = JobKeys.For(job);
    private readonly EmulatedJob? emulated = job.Rl!.Emulated ? new EmulatedJob(job) : null;
    private readonly JobCheckpoints checkpoints = new(job, store);
    private readonly JobMetricsLog metricsLog = new(job, store);
    private readonly PoolTuning pools = new(job, job.Rl!.Emulated ? new EmulatedJob(job) : null);
    private readonly GenerationPool workers = new(job, grains, logger, notice);
    // Drained workers' samples being handed back, one worker after another.
    private Task handingBack = Task.CompletedTask;
    private RolloutScheduler? scheduler;
    private ITrainerBackend? trainers;
    private readonly int staleness = job.Rl!.Staleness;
    private readonly RunAheadLimit runAhead = new(job.Rl!.Staleness, job.Rl.Async?.RunAhead ?? RunAhead.Most);
    /// <summary>The run's wall clock, for how long the trainer waits for each step's samples (<see cref="RunAheadLimit"/>).</summary>
    private readonly Stopwatch runClock = Stopwatch.StartNew();
    /// <summary>When the trainer was free for the step before the one training, by <see cref="runClock"/>; null before a run's first step.</summary>
    private double? trainerFreeBefore;
    /// <summary>Rollouts launched and not yet trained on, by step.</summary>
    private readonly Dictionary<int, LaunchedStep> ahead = [];
    /// <summary>The last step launched, and the version the run began with (the oldest its steps are generated with).</summary>
    private int launched, firstVersion;
    /// <summary>
    /// The time of the step being run: from the end of the one before (its devices' usage taken, the next step
    /// about to launch) to its own; null before a run's first step, whose time begins with it.
    /// </summary>
    private (Stopwatch Clock, DateTimeOffset Began)? window;
    /// <summary>The dataset position after the last trained step's prompts (what a checkpoint saves; launched steps have drawn more).</summary>
    private long trainedPromptsDrawn;
    /// <summary>The prompts tail batching deferred, as of the last trained step (what a checkpoint saves with the dataset position).</summary>
    private PromptRef[] deferredAfterTraining = [];

    private StepTraining? training;
    private MigrationTuning? migration;

    private readonly LengthRanking ranking = new(grains.GetGrain<ILengthModelGrain>(0));

    private DispatchTuning? dispatch;
    private PoolMoves? moves;

    /// <param name="In">When the step's samples were all in, by <see cref="runClock"/>.</param>
    private sealed record LaunchedStep(StepRollout Rollout, SampleStart[] Starts, long PromptsDrawn, MigrationPlan? Migration, PlannedRound? Round,
        LengthRanking.Forecast Forecast, SkewSplit? Split, Task<double> In);

    /// <summary>Called by the job grain when a sample grain reports a stage.</summary>
    public void SampleReached(string sampleId, SampleStage stage, SampleRecord? scored) => scheduler?.SampleReached(sampleId, stage, scored);

    /// <summary>Called by the job grain when a worker reports its samples' tokens so far.</summary>
    public void SamplesProgressed(GenerationWork[] progress) => scheduler?.SamplesProgressed(progress);

    /// <summary>
    /// Called by the job grain when a worker's silo is drained while it holds samples: they go to the other
    /// workers with their tokens so far, then it leaves its device (the next step places it again on a silo
    /// not drained, or goes on without it when none has a device free). Hand-backs run one at a time.
    /// </summary>
    public Task WorkerDrained(string worker)
    {
        var w = workers.IndexOf(worker);
        if (w < 0) return Task.CompletedTask;
        handingBack = HandBack(handingBack, w);
        return Task.CompletedTask;
    }

    private async Task HandBack(Task before, int w)
    {
        await before;
        try
        {
            var moved = scheduler is null ? 0 : await scheduler.Retire(w);
            logger.LogInformation("job {Job}: {Worker}'s silo is drained; {Moved} samples moved off it", job.Name, keys.Worker(w), moved);
        }
        catch (Exception e)
        {
            // Its step's last worker, or a call that failed: the worker leaves with its samples, which the audit sends again.
            logger.LogWarning(e, "job {Job}: {Worker}'s samples could not be handed back; the audit sends them again", job.Name, keys.Worker(w));
        }
        await SiloLoss.Vacate(workers[w]);
    }

    /// <summary>Called by the job grain when a silo joins or goes: the running steps audit at once.</summary>
    public void MembershipChanged() => scheduler?.MembershipChanged();

    /// <summary>The samples still generating with their tokens so far, longest first.</summary>
    public GeneratingSample[] Generating() => scheduler?.Generating() ?? [];

    /// <summary>Runs the job to its last iteration or until cancelled: afresh, from its latest checkpoint, or (recovering) from the latest if there is one.</summary>
    public async Task RunAsync(RunStart from, Action<int, string> progress, CancellationToken cancellation)
    {
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(rl.Model));
        // Off the grain's turn: a spoken dataset's audio is read and tokenized here (seconds for thousands of files).
        var data = emulated is null ? await Task.Run(() => new RlData(job, encoding, ModelCatalog.Config(rl.Model).MaxPositions)) : null;
        var limits = data is null
            ? new GenerationLimits(rl.MaxBatch, rl.MaxTokens, rl.Model, emulated!.PromptLength + emulated.Lengths.Max + 1, emulated.Generator, Partial, Progress, Interrupted) { Job = job.Name }
            : new GenerationLimits(rl.MaxBatch, rl.MaxTokens, rl.Model, data.Train.Concat(data.HeldOut).Max(e => encoding.Prompt(e).Length) + rl.ResponseTokens(data.Task.MaxResponseTokens) + 1, PartialRollouts: Partial, Progress: Progress) { Job = job.Name };
        workers.Use(limits, emulated);
        var division = await pools.Begin();
        if (rl.Pools is not null)
        {
            workers.Begin(division.GenerationWorkers);
            progress(0, $"pools: {PoolMoves.Describe(division)}");
        }
        // A run starts with empty workers: what an earlier run (lost with its job grain's silo) left in them goes.
        await workers.OnEach(async w =>
        {
            await workers[w].HandBack();
            await workers[w].Configure(workers.LimitsOf(w));
        }, progress);
        var (start, promptsDrawn, deferred, passedOver, ranker) = from == RunStart.Fresh ? JobCheckpoints.ResumePoint.Fresh : await checkpoints.Latest();
        if (ranker is not null) ranking.Restore(ranker);
        var resume = from == RunStart.Resume || (from == RunStart.Recover && start > 0);
        // Kept in the job's status (its notices), so not said again as progress.
        foreach (var damaged in passedOver) notice($"passed over a damaged checkpoint: {damaged}");
        if (resume && start == 0)
        {
            var why = passedOver.Count == 0 ? $"none under {keys.Checkpoints}" : $"every one is damaged: {string.Join("; ", passedOver)}";
            throw new InvalidOperationException($"job {job.Name} has no complete checkpoint to resume from ({why}); run it without resume to start it");
        }
        if (!resume && await checkpoints.ClearEarlierRun() is var removed and > 0) progress(0, $"starting afresh: removed {removed} objects of an earlier run of {job.Name}");
        var plan = new IterationPlan(job, data, emulated, encoding, limits.MaxSequenceLength) { PromptsDrawn = promptsDrawn };
        plan.Restore(deferred);
        (launched, firstVersion, trainedPromptsDrawn, deferredAfterTraining) = (start, start, promptsDrawn, [.. deferred]);
        scheduler = new RolloutScheduler(grains, keys, workers.Ready, (stopped, message) =>
        {
            // Steps launched from now on leave it out; its samples in launched steps go to the others.
            workers.Stopped(stopped);
            logger.LogWarning("job {Job}: {Message}", job.Name, message);
            notice(message);
            progress(workers.Weights?.Version ?? 0, $"{message}; its samples go to the other workers");
        }, oneStepPerWorker: staleness > 0 && !Partial);
        trainers = rl.Pipeline is not null ? new PipelinedBackend(job, grains, store, emulated)
            : new DataParallelBackend(job, grains, emulated, division.TrainingReplicas, PoolTuning.Most(job).Replicas);
        if (rl.Pools is not null)
        {
            moves = new PoolMoves(job, grains, workers, (DataParallelBackend)trainers, scheduler, logger);
            await moves.VacateOutsideDivision();
        }
        training = new StepTraining(job, trainers, grains);
        migration = new MigrationTuning(rl, emulated);
        dispatch = new DispatchTuning(rl, emulated);

        if (start > 0) progress(start, $"resuming after iteration {start}");
        await trainers.Start(start, actor => data is null ? Task.CompletedTask : ActorWarmStart.Run(job, actor, encoding, data, store, progress));
        await workers.LoadWeights(new WeightsRef(keys.ActorWeights(start), start), progress);
        // The warm start's busy time is no step's; the weights it moved are in iteration 0's metrics.
        var beforeFirst = await TakeUsage();
        if (start == 0 && data is not null)
        {
            var greedy = await workers.Evaluate(workers.Weights!, encoding, data, rl.Tools, progress);
            var initial = new IterationMetrics
            {
                Iteration = 0, HeldOutAccuracy = greedy.Accuracy, HeldOutExample = greedy.Example, WeightBytes = IterationMetricsBuilder.WeightBytesOf(beforeFirst),
            };
            await metricsLog.Save(initial);
            report(initial);
        }

        var done = start;
        window = null;
        var recording = Task.CompletedTask;
        using var stopBalancing = new CancellationTokenSource();
        var balancing = Partial && rl.Async!.BalanceEverySeconds > 0 ? BalanceContexts(rl.Async.BalanceEverySeconds, progress, stopBalancing.Token) : Task.CompletedTask;
        try
        {
            for (var i = start + 1; i <= job.Iterations && !cancellation.IsCancellationRequested; i++)
            {
                var settled = await Iteration(i, plan, encoding, data, progress);
                // Step i - 1's bookkeeping ran beside step i's training; step i's runs beside step i + 1's.
                await recording;
                recording = Record(i, settled, progress);
                // A checkpoint holds the trainers at this version, and an elastic job divides its pools by this step's
                // usage: both before the next step trains.
                if ((Checkpoints && i % rl.CheckpointEvery == 0) || pools.Planning) await recording;
                if (Checkpoints && i % rl.CheckpointEvery == 0) await Checkpoint(i);
                done = i;
            }
            await recording;
        }
        finally
        {
            // Steps launched ahead and never trained on stop here; a resumed run launches them again.
            await stopBalancing.CancelAsync();
            await balancing;
            scheduler.Abandon();
            foreach (var step in ahead.Values) step.Rollout.Records.Ignore();
            ahead.Clear();
            // A step's bookkeeping still running when the run stopped on another error (the abandoned rollouts release
            // what it waits for).
            if (!recording.IsCompletedSuccessfully) await Observed(recording);
        }
        // A job that stops (cancelled, or at its end) leaves a checkpoint of where it stopped, so that
        // --resume goes on from there (with more iterations, for instance).
        if (Checkpoints && done > start && done % rl.CheckpointEvery != 0) await Checkpoint(done);
    }

    /// <summary>
    /// Every <paramref name="seconds"/> of device time, the samples being generated move so that the workers hold
    /// even contexts (rl.async.balanceEverySeconds). A round that fails (a worker's silo lost mid-move: its
    /// samples are the audit's) is reported and the next one goes on.
    /// </summary>
    private async Task BalanceContexts(double seconds, Action<int, string> progress, CancellationToken stop)
    {
        var period = TimeSpan.FromSeconds(seconds / (emulated?.TimeScale ?? 1));
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(period, stop);
                await scheduler!.BalanceContexts([.. workers.Live.Select(w => w.Index)]);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                progress(launched, $"balancing the workers' contexts failed this time: {e.GetBaseException().Message}");
            }
        }
    }

    /// <summary>The length model fit to the steps trained so far, before the next steps' prompts are forecast; one that failed leaves the fit before it.</summary>
    private async Task RankerFitted()
    {
        try
        {
            await ranking.Fitted();
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "job {Job}: the length model could not be fit; forecasts go on with its previous fit", job.Name);
        }
    }

    /// <summary>
    /// Launches the rollouts of the steps whose weights exist once version <paramref name="published"/>
    /// does, up to published + 1 + the steps run ahead (k, or fewer: <see cref="RunAheadLimit"/>), each generated
    /// with the newest weights, so step j's are at most k versions behind the trainer's when it trains.
    /// </summary>
    private void Launch(IterationPlan plan, int published)
    {
        for (var last = Math.Min(job.Iterations, published + 1 + runAhead.Steps); launched < last;)
        {
            var step = ++launched;
            var version = Math.Max(firstVersion, published);
            var generatedWith = new WeightsRef(keys.ActorWeights(version), version);
            var (starts, round) = plan.Next(step, version);
            var stage = round is null ? RolloutPolicies.Stage(rl.StagePolicy) : RolloutPolicies.TailBatch(rl, starts);
            var forecast = ranking.Predict(starts);
            var split = dispatch!.Current;
            var order = RolloutPolicies.Dispatch(rl, [.. starts.Select(s => forecast.ByGroup[s.Group])], split ?? SkewSplit.None, workers.Count);
            var rollout = scheduler!.Start(starts, generatedWith, stage, order, workers.Live, migration!.Policy(), rl.TrainEarly ? rl.GenerationWorkers : null);
            var samplesIn = rollout.Records.ContinueWith(_ => runClock.Elapsed.TotalSeconds, TaskScheduler.Default);
            ahead[step] = new LaunchedStep(rollout, starts, plan.PromptsDrawn, migration.Current, round, forecast, split, samplesIn);
        }
    }

    /// <summary>A step's figures once its bookkeeping is done: saved, published to the meter and reported, in step order.</summary>
    private async Task Record(int i, Task<IterationMetrics> settled, Action<int, string> progress)
    {
        var metrics = await settled;
        await metricsLog.Save(metrics);
        Publish(metrics);
        report(metrics);
        progress(i, $"iteration {i}: reward {metrics.RewardMean:F3}" + (metrics.HeldOutAccuracy is { } a ? $", held-out accuracy {a:P1}" : ""));
    }

    /// <summary>Awaits a step's bookkeeping so that nothing of it runs on after the run; its error is logged (the run throws its own).</summary>
    private async Task Observed(Task recording)
    {
        try
        {
            await recording;
        }
        catch (Exception e)
        {
            logger.LogWarning(e, "job {Job}: a step's bookkeeping failed", job.Name);
        }
    }

    /// <summary>Gives the job's devices back: its generation workers, trainers and stages leave them once their calls end.</summary>
    public async Task ReleaseDevices()
    {
        await workers.Release();
        if (trainers is not null) await trainers.Release();
        await JobLeases.Released(grains, job.Name);
    }

    private bool Checkpoints => rl.CheckpointEvery > 0 && emulated is null;

    private bool Partial => rl.Async is { PartialRollouts: true };

    /// <summary>What an emulated worker does with an interrupted partial rollout's KV cache (real devices recompute it).</summary>
    private InterruptedCache Interrupted => rl.Async?.InterruptedCache ?? InterruptedCache.Auto;

    /// <summary>With partial rollouts the workers tell the job their samples' tokens so far (what a lost sample goes on from).</summary>
    private ProgressReports? Progress => rl.Async is { PartialRollouts: true } a ? new ProgressReports(job.Name, a.ProgressTokens) : null;

    /// <summary>
    /// Activates step <paramref name="next"/>'s sample grains once this step's first optimizer step is sent
    /// (while it trains, when the job grain has little else to do; sent before it, their calls held it up).
    /// Created cold at the next step's start, a 1,024-device step's 16,384 sample grains took 4.7-6.9 s of
    /// wall time before its first sample was dealt, no device busy (measured). Only an optimization: a sample
    /// grain not warmed (or collected since) activates when dispatched or created.
    /// </summary>
    private async Task WarmNext(int next, Task trainingSent)
    {
        try
        {
            await trainingSent;
            await Task.WhenAll(Enumerable.Range(0, rl.PromptsPerIteration * rl.SamplesPerPrompt).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(job.Name, next, k)).Warm()));
        }
        catch (Exception e)
        {
            // The step's own failure is its training's to report; a warm-up that failed leaves the samples to activate when created.
            logger.LogDebug(e, "job {Job}: warming step {Step}'s samples failed", job.Name, next);
        }
    }

    /// <summary>
    /// Trains step <paramref name="i"/>, publishes its weights and launches the steps they allow; returns the rest of the
    /// step's work (the samples told they were trained, the old weights removed, the held-out evaluation, its figures),
    /// which runs beside the next step's training: the trainers do not wait for the job's bookkeeping (measured on the
    /// emulated 7B reasoning-32k job at staleness 4: 1.4-3.5 s of every step's training waited for it).
    /// </summary>
    private async Task<Task<IterationMetrics>> Iteration(int i, IterationPlan plan, TaskEncoding encoding, RlData? data, Action<int, string> progress)
    {
        var (clock, began) = window ??= (Stopwatch.StartNew(), DateTimeOffset.UtcNow);
        var metrics = new IterationMetricsBuilder(i, began, emulated?.TimeScale ?? 1);
        await workers.Rejoin(progress);
        if (staleness == 0) await migration!.Planned;
        await RankerFitted();
        Launch(plan, published: i - 1);
        var launchedStep = ahead[i];
        var trainingSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (staleness == 0 && i < job.Iterations) _ = WarmNext(i + 1, trainingSent.Task);
        var starts = launchedStep.Starts;
        var trainerFree = runClock.Elapsed.TotalSeconds;
        StepTraining.Trained trainedStep;
        try
        {
            trainedStep = await training!.Train(i, launchedStep.Rollout, starts, metrics, trainingSent);
        }
        finally
        {
            // A step that failed before its training warms nothing.
            trainingSent.TrySetCanceled();
        }
        var (records, advantages, lags, trainingBegan) = trainedStep;
        ahead.Remove(i);
        // A run's first step had nothing generated ahead of it, so it says nothing of how far ahead to run.
        if (staleness > 0 && trainerFreeBefore is { } before) runAhead.Trained(await launchedStep.In - trainerFree, trainerFree - before);
        trainerFreeBefore = trainerFree;
        var trainingStart = clock.Elapsed - (DateTimeOffset.UtcNow - trainingBegan);
        metrics.Rollout(records, advantages, lags, trainingBegan);
        metrics.Ranked(ranking.Trained(launchedStep.Forecast, records), launchedStep.Split);
        // A tail-batching round's prompts without a whole group wait for a long round.
        var trainedGroups = records.Select(r => r.Start!.Group).ToHashSet();
        plan.Defer(starts.Where(s => !trainedGroups.Contains(s.Group)).DistinctBy(s => s.Group));
        // A round trains the samples that finished first, not its workload's: its bound is over those.
        var roundBound = emulated is not null && launchedStep.Round is not null
            ? Kernels.Emulation.IdealBound.For(emulated.Workload(i, [.. records.Select(r => r.Generated!.Tokens)]), staleness).Seconds : (double?)null;
        metrics.Round(launchedStep.Round, plan.Deferred.Count, roundBound);
        migration!.Trained(i, records, workers.Count);
        dispatch!.Trained(records, launchedStep.Forecast, workers.Count);

        await trainers!.Publish(i);
        var trained = new WeightsRef(keys.ActorWeights(i), i);
        // Synchronous workers are idle now and take the new weights before the next step is launched. Partial
        // rollouts are interrupted for them while the next step is dealt (a worker whose first waiting sample names
        // the version loads it then). Other asynchronous workers load each version as their samples of the one
        // before leave their batch (their work names its version).
        var loading = staleness == 0 || Partial ? workers.LoadWeights(trained, progress) : Task.CompletedTask;
        if (staleness == 0) await loading;
        else if (!Partial) workers.Weights = trained;
        (trainedPromptsDrawn, deferredAfterTraining) = (launchedStep.PromptsDrawn, [.. plan.Deferred]);
        // The step ran with these: its usage is theirs, whatever moves now.
        var (division, workersBefore, trainersBefore) = pools.Planning ? (pools.Current, moves!.WorkerKeys(), moves.TrainerKeys()) : (pools.Current, [], []);
        if (pools.Due() is { } next)
        {
            await loading;
            var moving = Stopwatch.StartNew();
            var moved = await moves!.Move(pools.Current, next, progress);
            pools.Moved(moved, moving.Elapsed.TotalSeconds);
        }
        if (rl.Pools is not null) metrics.Pooled(new PoolSizes(workers.Count, ((DataParallelBackend)trainers).Active));
        // Asynchronous steps are launched the moment their weights exist; a synchronous one once they are loaded,
        // with the workers back and the migration plan over this step (as at an iteration's start).
        if (staleness == 0 && i < job.Iterations)
        {
            await workers.Rejoin(progress);
            await migration.Planned;
        }
        // This step's time ends here and the next one's begins: what follows (the samples told, the held-out
        // evaluation) runs beside the next step's generation and training, and counts in its time (a checkpoint
        // after this step waits for it, and the next step's training for the checkpoint).
        var seconds = clock.Elapsed.TotalSeconds;
        var trainingSeconds = (clock.Elapsed - trainingStart).TotalSeconds;
        window = (Stopwatch.StartNew(), DateTimeOffset.UtcNow);
        // Asked before the next step's work reaches the devices, so that their time up to here is this step's.
        var usage = TakeUsage();
        await RankerFitted();
        Launch(plan, published: i);
        ahead.TryGetValue(i + 1, out var following);
        return Settle();

        async Task<IterationMetrics> Settle()
        {
            await loading;
            // The samples hear they were trained once the next step's first samples are with its workers, so that
            // the devices generate while they do: at 1,024 devices their 16,384 calls took a quarter of a second
            // of wall time in which no device worked, and as many more when they queued before the next step's.
            if (following is not null) await Task.WhenAny(following.Rollout.Dealt, following.Rollout.Records);
            var final = await Task.WhenAll(records.Select((r, k) =>
                SiloLoss.Retry(() => grains.GetGrain<ISampleGrain>(r.Start!.Id).Trained(advantages.Advantages[k], advantages.Returns?[k]))));
            trainedSamples(final);
            var tally = launchedStep.Rollout.Tally;
            metrics.Accounted(StepLedger.Of([.. final, .. tally.Discarded]) with { TokensCarried = tally.TokensCarried, TakenBack = tally.TakenBack, Migrated = tally.Migrated, CachesCarried = tally.CachesCarried }, launchedStep.Migration);
            await checkpoints.DeleteOldWeights(i, keep: staleness + 2);
            var heldOut = data is not null && (i % rl.EvalEvery == 0 || i == job.Iterations) ? await workers.Evaluate(trained, encoding, data, rl.Tools, progress) : null;
            var used = await usage;
            // Devices report wall seconds; an emulated job's cost model counts its own (wall times the time scale).
            var scale = emulated?.TimeScale ?? 1;
            if (pools.Planning) pools.Trained(i, final, division, scale * PoolMoves.BusyPerDevice(used, workersBefore), scale * PoolMoves.BusyPerDevice(used, trainersBefore));
            return metrics.Build(seconds, trainingSeconds, heldOut, used, trainers!.ExpectedBubble);
        }
    }

    /// <summary>
    /// Every device's usage since the last call: workers, trainers, and the emulated scoring instances (real
    /// scoring holds no leased device). A grain lost with its silo, or with no device free for it now, has
    /// none to give (its device went with the silo): it is left out rather than fail the step.
    /// </summary>
    private async Task<DeviceUsage[]> TakeUsage()
    {
        var workerUsage = Task.WhenAll(workers.Workers.Select(w => Usage(w.TakeUsage)));
        var trainerUsage = trainers!.TakeUsage();
        var scorerUsage = Task.WhenAll(Enumerable.Range(0, emulated?.Scorer.Instances ?? 0).Select(k => Usage(grains.GetGrain<IScoringGrain>(keys.Scorer(k)).TakeUsage)));
        return [.. (await workerUsage).OfType<DeviceUsage>(), .. await trainerUsage, .. (await scorerUsage).OfType<DeviceUsage>()];
    }

    private static async Task<DeviceUsage?> Usage(Func<Task<DeviceUsage>> take)
    {
        try
        {
            return await take();
        }
        catch (Exception e) when (SiloLoss.Is(e) || NoFreeDeviceException.In(e))
        {
            return null;
        }
    }

    /// <summary>An iteration's figures to the silo's meter (<see cref="Telemetry.ActorsMeter"/>), tagged with the job.</summary>
    private void Publish(IterationMetrics metrics)
    {
        var tag = Telemetry.ActorsMeter.Job(job.Name);
        Telemetry.ActorsMeter.Steps.Add(1, tag);
        Telemetry.ActorsMeter.SamplesTrained.Add(metrics.Ledger?.Trained ?? 0, tag);
        Telemetry.ActorsMeter.StepDuration.Record(metrics.IterationSeconds, tag);
        foreach (var busy in metrics.DeviceBusy.Values) Telemetry.ActorsMeter.DeviceBusy.Record(busy, tag);
        if (staleness > 0) Telemetry.ActorsMeter.Staleness.Record(metrics.VersionLagMean, tag);
    }

    private async Task Checkpoint(int iteration)
    {
        await checkpoints.Save(iteration, trainers!, trainedPromptsDrawn, deferredAfterTraining, ranking.State());
        logger.LogInformation("job {Job}: checkpoint after iteration {Iteration}", job.Name, iteration);
    }
}
