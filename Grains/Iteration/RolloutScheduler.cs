using System.Diagnostics;
using System.Threading.Channels;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;

namespace Grains.Iteration;

/// <summary>
/// Runs steps' rollouts: creates their sample grains, hears each sample's progress from the job grain,
/// asks the stage and dispatch policies what to do, and carries their actions out on the sample grains
/// and generation workers, until the stage policy starts training. An asynchronous job has several
/// steps' rollouts running at once, each generated with its own weights version. Runs on the job
/// grain's scheduler, so events and actions never race. Every <see cref="AuditPeriod"/> it asks each worker which samples
/// it holds: one sent there, neither held nor generated, was lost with the worker's silo and is sent
/// again (after <paramref name="revive"/> has readied the worker's new activation, or to another worker
/// when no device is free for it), from its prompt and seed, so its response is the one it would have had.
/// </summary>
/// <remarks>
/// A worker that stopped (a weights version failed to load on it) is given up like one with no device
/// free: its samples go to the others, and <paramref name="notice"/> tells the job which (its index in the job) and why.
/// With <paramref name="oneStepPerWorker"/> (asynchronous jobs without partial rollouts: a worker admits a
/// later step's samples only once the earlier step's are done) each step's state says which workers are
/// behind, and the dispatch policy hears when one catches up. One step's rollout is in RolloutStep.cs.
/// </remarks>
public sealed partial class RolloutScheduler(IGrainFactory grains, JobKeys keys, Func<int, Task> revive, Action<int, string> notice, bool oneStepPerWorker = false)
{
    public static readonly TimeSpan AuditPeriod = TimeSpan.FromSeconds(2);

    /// <summary>How long the audit waits for a worker to say what it holds: past it, the worker is asked again at the next audit.</summary>
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The running steps, in the order they were launched (what <see cref="Behind"/> reads as earlier).</summary>
    private readonly List<Step> running = [];
    private TaskCompletionSource wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool abandoned;

    /// <summary>How many workers a step's first deal sends to at once (see <see cref="Step.Carry"/>).</summary>
    private const int FirstDealWorkers = 64;
    private JobKeys Keys { get; } = keys;
    private Func<int, Task> Revive { get; } = revive;
    private Action<int, string> Notice { get; } = notice;

    /// <summary>A worker that cannot take samples: no device free for its new activation, or stopped by weights that failed to load.</summary>
    public static bool Unavailable(Exception e) => NoFreeDeviceException.In(e) || WorkerStoppedException.In(e);

    /// <summary>A sample grain reported a stage (once scored, with its record); reports of samples of no running step and repeats are ignored.</summary>
    public void SampleReached(string sampleId, SampleStage stage, SampleRecord? scored)
    {
        foreach (var step in running) step.Reached(sampleId, stage, scored);
        if (stage >= SampleStage.Generated) CatchUpAll();
    }

    /// <summary>A worker's samples with their tokens so far: kept by their steps for a re-dispatch after the worker's loss.</summary>
    public void SamplesProgressed(GenerationWork[] progress)
    {
        foreach (var step in running) step.Progressed(progress);
    }

    /// <summary>The running steps' samples not yet generated whose tokens so far a worker told of, longest first.</summary>
    public GeneratingSample[] Generating() => [.. running.SelectMany(s => s.Generating()).OrderByDescending(g => g.Tokens)];

    /// <summary>The samples a worker holds of the step and of older ones: those it admits before a sample of the step sent now.</summary>
    /// <remarks>Steps may have different workers (one left out for want of a device when a step began): a worker is known across them by its index in the job.</remarks>
    private int LoadAhead(Step step, int worker) => running.Where(o => o.Weights.Version <= step.Weights.Version).Sum(o => o.LoadOf(step.JobIndex(worker)));

    /// <summary>
    /// Whether a worker still has samples of a step launched before this one to generate. Steps launched
    /// together share a version (an asynchronous job's first k + 1), and a batch holds one step: samples of
    /// the later step sent to a worker still on the earlier one took its batch whenever their calls came
    /// first, and the earlier step then waited for the whole of that batch (steps ending in bunches,
    /// measured), so the later step waits in the scheduler instead, where other workers can pull it.
    /// </summary>
    private bool Behind(Step step, int worker) => running.TakeWhile(o => o != step).Any(o => o.LoadOf(step.JobIndex(worker)) > 0);

    /// <summary>
    /// A silo joined or went: every running step audits now rather than at its next period, so a lost
    /// worker's samples are sent again, and a worker back takes its share, without waiting up to
    /// <see cref="AuditPeriod"/> (seconds that an emulated job's time scale multiplies).
    /// </summary>
    public void MembershipChanged()
    {
        var woken = wake;
        wake = new(TaskCreationOptions.RunContinuationsAsynchronously);
        woken.TrySetResult();
    }

    /// <summary>
    /// A worker leaves the job's generation pool (its devices move to training): in every running step its
    /// samples not yet generated go to the step's other workers, with their tokens so far, and it is dealt no
    /// more. Returns the samples moved.
    /// </summary>
    public async Task<int> Retire(int jobIndex)
    {
        var moved = 0;
        foreach (var step in running.ToList()) moved += await step.Retire(jobIndex);
        return moved;
    }

    /// <summary>
    /// Evens the context the workers hold across every running step (<see cref="ContextBalance"/>): with partial
    /// rollouts a worker holds several steps' samples at once, and any of them may move. Returns how many moved.
    /// </summary>
    /// <param name="workers">The job's live generation workers, by index.</param>
    public async Task<int> BalanceContexts(IReadOnlyList<int> workers)
    {
        var held = running.SelectMany(step => step.Holding().Select(h => (Step: step, h.Sample, h.Worker, h.Context))).ToList();
        var moves = ContextBalance.Plan([.. held.Select(h => new ContextBalance.Held(h.Worker, h.Context))], workers);
        var moved = await Task.WhenAll(moves.GroupBy(m => held[m.Sample].Step)
            .Select(g => g.Key.Move([.. g.Select(m => (held[m.Sample].Sample, m.To))])));
        return moved.Sum();
    }

    /// <summary>Stops every running rollout (the job stops or failed): their runs end cancelled, and they send nothing more.</summary>
    public void Abandon()
    {
        abandoned = true;
        foreach (var step in running) step.Trained.TrySetCanceled();
    }

    /// <summary>
    /// Starts a step's rollout: its records come once every sample is scored and the stage policy starts
    /// training (with a <see cref="TailBatchRound"/> as the stage policy: the records of the samples it kept,
    /// by index, the discarded ones' in the tally); meanwhile each group (the responses to one prompt) is announced, as the indices of its
    /// samples, the moment its last sample is scored. The policies number the <paramref name="workers"/>
    /// 0..n-1; each is known by its index in the job. Every sample is generated with <paramref name="weights"/>.
    /// </summary>
    /// <remarks>With <paramref name="migration"/>, the step's tail is gathered on a few workers as it says.</remarks>
    /// <remarks>With <paramref name="devices"/> (a colocated job's, for rl.trainEarly), the rollout tells when each device is done generating and scoring the step's samples (<see cref="StepRollout.Freed"/>).</remarks>
    public StepRollout Start(SampleStart[] starts, WeightsRef weights, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, TailMigration? migration = null, int? devices = null)
    {
        var groups = Channel.CreateUnbounded<int[]>();
        var tally = new RolloutTally();
        var policies = new StepPolicies(stagePolicy, dispatchPolicy, migration);
        var dealt = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var freed = devices is { } n ? new FreedDevices(n, workers.Select(w => w.Index)) : null;
        var scored = new SampleRecord?[starts.Length];
        return new StepRollout(Run(starts, weights, policies, workers, groups.Writer, tally, dealt, freed, scored), groups.Reader, tally, dealt.Task) { Freed = freed, ScoredRecords = scored };
    }

    private async Task<SampleRecord[]> Run(SampleStart[] starts, WeightsRef weights, StepPolicies policies,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups, RolloutTally tally, TaskCompletionSource dealt, FreedDevices? freed, SampleRecord?[] scored)
    {
        try
        {
            return await Rollout(starts, weights, policies, workers, scoredGroups, tally, dealt, freed, scored);
        }
        finally
        {
            scoredGroups.TryComplete();
            dealt.TrySetResult();
            // A rollout that failed or was abandoned leaves nothing waiting for its devices.
            freed?.Release();
        }
    }

    private async Task<SampleRecord[]> Rollout(SampleStart[] starts, WeightsRef weights, StepPolicies policies,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups, RolloutTally tally, TaskCompletionSource dealt, FreedDevices? freed, SampleRecord?[] scored)
    {
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        if (abandoned) throw new TaskCanceledException("the job's rollouts were abandoned");
        var step = new Step(this, starts, weights, samples, policies, workers, scoredGroups, tally, freed, scored);
        if (freed is not null) freed.TrainingPaused += step.ScoreWaiting;
        if (oneStepPerWorker) for (var w = 0; w < workers.Count; w++) step.State.SetBehind(w, Behind(step, w));
        running.Add(step);
        try
        {
            // The samples dealt at once are created by their dispatch (it carries their start), the others
            // beside it: workers start generating without waiting for a step's worth of creations (16,384 calls
            // at 1,024 devices, a quarter of a second with no device busy), and half the calls go.
            var first = policies.Dispatch.Start(step.State);
            var dealtAtOnce = first.Select(d => d.Sample).ToHashSet();
            var created = Task.WhenAll(Enumerable.Range(0, samples.Length).Where(k => !dealtAtOnce.Contains(k)).Select(k => SiloLoss.Retry(() => samples[k].Create(starts[k]))));
            step.Carry(first, workersAtOnce: FirstDealWorkers);
            // A worker dealt nothing is free from the start.
            step.NoteFreed();
            _ = step.Sent().ContinueWith(_ => dealt.TrySetResult(), TaskScheduler.Current);
            await created;
            while (await Task.WhenAny(step.Trained.Task, Task.Delay(AuditPeriod), wake.Task) != step.Trained.Task)
            {
                await step.Audit();
                // Samples the audit found generated (their reports lost) may have let a worker catch up.
                if (oneStepPerWorker) step.CatchUp(w => Behind(step, w));
            }
            await step.Trained.Task;
            tally.Discard(await step.RoundEnded);
        }
        finally
        {
            running.Remove(step);
        }
        // A tail-batching round trains on the samples it kept (by index); any other step on all. Their records
        // came with their scores; one whose report was lost is read.
        int[] trainedOn = policies.Stage is TailBatchRound round ? round.Kept : [.. Enumerable.Range(0, samples.Length)];
        return await Task.WhenAll(trainedOn.Select(k => step.ScoredRecord(k) is { } record ? Task.FromResult(record) : Scored(samples[k])));
    }

    /// <summary>
    /// A sample's record with its scores. Scores are not in the ledger: a sample grain re-activated since
    /// (its silo lost, a directory entry lost with another's) scores its kept response again.
    /// </summary>
    private static async Task<SampleRecord> Scored(ISampleGrain sample)
    {
        var record = await SiloLoss.Retry(sample.Record);
        if (record.Scores is not null) return record;
        await SiloLoss.Retry(sample.Score);
        return await SiloLoss.Retry(sample.Record);
    }

    /// <summary>
    /// Samples moved off workers (a step's tail gathered elsewhere) may have let those catch up on newer
    /// steps: each running step deals them its samples now.
    /// </summary>
    private void CatchUpAll()
    {
        if (!oneStepPerWorker) return;
        foreach (var step in running.ToList()) step.CatchUp(w => Behind(step, w));
    }

    /// <summary>The stopped worker's own message, however wrapped.</summary>
    public static string Stopped(Exception e) => e switch
    {
        WorkerStoppedException w => w.Message,
        AggregateException a => Stopped(a.InnerExceptions.First(WorkerStoppedException.In)),
        _ => Stopped(e.InnerException!),
    };
}

/// <summary>A step's rollout in flight: its records once all are scored, its groups (sample indices) as each is scored whole, and its tally.</summary>
/// <param name="Dealt">Done once the samples its dispatch policy deals at once are with their workers (or the rollout ended).</param>
public sealed record StepRollout(Task<SampleRecord[]> Records, ChannelReader<int[]> ScoredGroups, RolloutTally Tally, Task Dealt)
{
    /// <summary>When each device is done generating and scoring the step's samples, and when the step is generated; only where the job asked (rl.trainEarly).</summary>
    public FreedDevices? Freed { get; init; }

    /// <summary>Each sample's record as its scored report brought it (by index; null until then, or if the report was lost): read in the job grain's turns only.</summary>
    public IReadOnlyList<SampleRecord?> ScoredRecords { get; init; } = [];
}

/// <summary>The policies one step's rollout asks: when samples move on, where they are generated, and whether its tail is gathered.</summary>
internal sealed record StepPolicies(IStagePolicy Stage, IDispatchPolicy Dispatch, TailMigration? Migration);

/// <summary>What a step's rollout counts besides its samples' records.</summary>
public sealed class RolloutTally
{
    /// <summary>Tokens so far that samples sent again after their worker's loss went on from (partial rollouts).</summary>
    public long TokensCarried { get; private set; }

    public void Carried(int tokens) => TokensCarried += tokens;

    /// <summary>Samples taken from other workers' queues by workers back after a loss.</summary>
    public int TakenBack { get; private set; }

    public void Took(int samples) => TakenBack += samples;

    /// <summary>Samples moved off a running worker: to gather the step's tail (long-tail migration), or as the worker left.</summary>
    public int Migrated { get; private set; }

    public void Moved(int samples) => Migrated += samples;

    /// <summary>Samples moved (migrated or taken back) that went on with their KV cache instead of a prefill.</summary>
    public int CachesCarried { get; private set; }

    public void CachesMoved(int samples) => CachesCarried += samples;

    /// <summary>The records of the samples a tail-batching round ended without (out of the ledger, with their reason).</summary>
    public IReadOnlyList<SampleRecord> Discarded { get; private set; } = [];

    public void Discard(SampleRecord[] records) => Discarded = records;
}
