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
/// A worker that stopped (a weights version failed to load on it) is given up like one with no device
/// free: its samples go to the others, and <paramref name="notice"/> tells the job which (its index in the job) and why.
/// With <paramref name="oneVersionPerWorker"/> (asynchronous jobs without partial rollouts: a worker admits a
/// newer version's samples only once the older one's are done) each step's state says which workers are
/// behind, and the dispatch policy hears when one catches up.
public sealed class RolloutScheduler(IGrainFactory grains, JobKeys keys, Func<int, Task> revive, Action<int, string> notice, bool oneVersionPerWorker = false)
{
    public static readonly TimeSpan AuditPeriod = TimeSpan.FromSeconds(2);

    /// <summary>How long the audit waits for a worker to say what it holds: past it, the worker is asked again at the next audit.</summary>
    private static readonly TimeSpan AnswerTimeout = TimeSpan.FromSeconds(10);

    private readonly List<Step> running = [];
    private bool abandoned;
    private JobKeys Keys { get; } = keys;
    private Func<int, Task> Revive { get; } = revive;
    private Action<int, string> Notice { get; } = notice;

    /// <summary>A worker that cannot take samples: no device free for its new activation, or stopped by weights that failed to load.</summary>
    public static bool Unavailable(Exception e) => NoFreeDeviceException.In(e) || WorkerStoppedException.In(e);

    /// <summary>A sample grain reported a stage; reports of samples of no running step and repeats are ignored.</summary>
    public void SampleReached(string sampleId, SampleStage stage)
    {
        foreach (var step in running) step.Reached(sampleId, stage);
        if (!oneVersionPerWorker || stage < SampleStage.Generated) return;
        foreach (var step in running.ToList()) step.CatchUp(w => Behind(step, w));
    }

    /// <summary>Whether a worker still has samples of an older version than the step's to generate.</summary>
    private bool Behind(Step step, int worker) => running.Any(o => o.Weights.Version < step.Weights.Version && o.State.Load(worker) > 0);

    /// <summary>Stops every running rollout (the job stops or failed): their runs end cancelled, and they send nothing more.</summary>
    public void Abandon()
    {
        abandoned = true;
        foreach (var step in running) step.Trained.TrySetCanceled();
    }

    /// <summary>
    /// Starts a step's rollout: its records come once every sample is scored and the stage policy starts
    /// training; meanwhile each group (the responses to one prompt) is announced, as the indices of its
    /// samples, the moment its last sample is scored. The policies number the <paramref name="workers"/>
    /// 0..n-1; each is known by its index in the job. Every sample is generated with <paramref name="weights"/>.
    /// </summary>
    public StepRollout Start(SampleStart[] starts, WeightsRef weights, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers)
    {
        var groups = Channel.CreateUnbounded<int[]>();
        return new StepRollout(Run(starts, weights, stagePolicy, dispatchPolicy, workers, groups.Writer), groups.Reader);
    }

    private async Task<SampleRecord[]> Run(SampleStart[] starts, WeightsRef weights, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups)
    {
        try
        {
            return await Rollout(starts, weights, stagePolicy, dispatchPolicy, workers, scoredGroups);
        }
        finally
        {
            scoredGroups.TryComplete();
        }
    }

    private async Task<SampleRecord[]> Rollout(SampleStart[] starts, WeightsRef weights, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups)
    {
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        await Task.WhenAll(samples.Select((s, k) => SiloLoss.Retry(() => s.Create(starts[k]))));
        if (abandoned) throw new TaskCanceledException("the job's rollouts were abandoned");
        var step = new Step(this, starts, weights, samples, stagePolicy, dispatchPolicy, workers, scoredGroups);
        if (oneVersionPerWorker) for (var w = 0; w < workers.Count; w++) step.State.SetBehind(w, Behind(step, w));
        running.Add(step);
        try
        {
            step.Carry(dispatchPolicy.Start(step.State));
            while (await Task.WhenAny(step.Trained.Task, Task.Delay(AuditPeriod)) != step.Trained.Task)
            {
                await step.Audit();
                // Samples the audit found generated (their reports lost) may have let a worker catch up.
                if (oneVersionPerWorker) step.CatchUp(w => Behind(step, w));
            }
            await step.Trained.Task;
        }
        finally
        {
            running.Remove(step);
        }
        var records = await Task.WhenAll(samples.Select(s => SiloLoss.Retry(s.Record)));
        // Scores are not in the ledger: a sample grain re-activated after its silo's loss may have lost
        // them; the job then goes on from its last checkpoint (a silo's loss, not a bad request).
        return records.FirstOrDefault(r => r.Scores is null) is { } lost
            ? throw new StateLostException($"sample {lost.Start?.Id ?? "?"} lost its scores with its silo")
            : records;
    }

    private sealed class Step(RolloutScheduler owner, SampleStart[] starts, WeightsRef weights, ISampleGrain[] samples, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups)
    {
        private readonly Dictionary<string, int[]> members = starts.Select((s, k) => (s.Group, k)).GroupBy(p => p.Group).ToDictionary(g => g.Key, g => g.Select(p => p.k).ToArray());
        private readonly Dictionary<string, int> unscored = starts.GroupBy(s => s.Group).ToDictionary(g => g.Key, g => g.Count());
        private readonly Dictionary<string, int> index = starts.Select((s, k) => (s.Id, k)).ToDictionary();
        private readonly Stopwatch clock = Stopwatch.StartNew();
        // Samples a worker has been given (its Submit returned, or failed with its silo): what the audit checks.
        private readonly HashSet<int> submitted = [];
        // Workers lost with no device free to place them again: their samples went to the others, until a device frees.
        private readonly HashSet<int> gone = [];
        // Of those, workers stopped by weights that failed to load: they do not come back.
        private readonly HashSet<int> stopped = [];

        public RolloutState State { get; } = new(starts.Length, workers.Count);
        public WeightsRef Weights => weights;
        public TaskCompletionSource Trained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Reached(string sampleId, SampleStage stage)
        {
            if (!index.TryGetValue(sampleId, out var k)) return;
            State.Clock = clock.Elapsed.TotalSeconds;
            if (stage >= SampleStage.Generated && State.Generated(k))
            {
                Carry(dispatchPolicy.Generated(State, k, State.WorkerOf(k)));
                Carry(stagePolicy.Generated(State, k));
            }
            if (stage >= SampleStage.Scored && State.Scored(k))
            {
                if (--unscored[starts[k].Group] == 0) scoredGroups.TryWrite(members[starts[k].Group]);
                Carry(stagePolicy.Scored(State, k));
            }
        }

        /// <summary>Workers that were behind and no longer are get this step's samples, as the dispatch policy says.</summary>
        public void CatchUp(Func<int, bool> behind)
        {
            for (var w = 0; w < workers.Count; w++)
            {
                if (!State.Behind(w) || behind(w)) continue;
                State.SetBehind(w, false);
                Carry(dispatchPolicy.CaughtUp(State, w));
            }
        }

        public void Carry(IReadOnlyList<RolloutAction> actions)
        {
            foreach (var group in actions.OfType<DispatchTo>().GroupBy(d => d.Worker))
            {
                foreach (var d in group) State.Dispatched(d.Sample, d.Worker);
                Watch(Dispatch(group.Key, [.. group.Select(d => d.Sample)]));
            }
            foreach (var score in actions.OfType<ScoreSample>()) Watch(SiloLoss.Retry(samples[score.Sample].Score));
            if (actions.OfType<StartTraining>().Any()) Trained.TrySetResult();
        }

        /// <summary>Finds the samples lost with a worker's silo and sends them again; catches up on reports lost with a sample's silo.</summary>
        public async Task Audit()
        {
            await Rejoin();
            foreach (var worker in submitted.Where(k => !State.IsGenerated(k)).GroupBy(State.WorkerOf).ToList())
            {
                // A worker that did not answer in time is asked again at the next audit: only a lost silo or a
                // new activation means its samples are gone (re-sending the rest would change its batches).
                if (await Held(worker.Key) is not { } held) continue;
                var missing = worker.Where(k => !held.Contains(starts[k].Id)).ToArray();
                if (missing.Length == 0) continue;
                var stages = await Task.WhenAll(missing.Select(k => SiloLoss.Retry(() => samples[k].Restart(starts[k]))));
                var lost = new List<int>();
                for (var m = 0; m < missing.Length; m++)
                {
                    if (stages[m] >= SampleStage.Generated) Reached(starts[missing[m]].Id, stages[m]);
                    else lost.Add(missing[m]);
                }
                if (lost.Count == 0) continue;
                submitted.ExceptWith(lost);
                var target = await Revived(worker.Key);
                if (target != worker.Key) foreach (var k in lost) State.Moved(k, target);
                await Dispatch(target, [.. lost]);
            }
        }

        /// <summary>
        /// Workers lost with no device free for them try again: once a device is free (a replacement silo
        /// joined, another job gave one back), each is placed again and takes samples as the dispatch
        /// policy deals a worker that caught up. A worker stopped by weights that failed to load stays out.
        /// </summary>
        private async Task Rejoin()
        {
            foreach (var worker in gone.Where(w => !stopped.Contains(w)).ToList())
            {
                try
                {
                    await owner.Revive(workers[worker].Index);
                }
                catch (Exception e) when (Unavailable(e) || SiloLoss.Is(e))
                {
                    continue;
                }
                gone.Remove(worker);
                Carry(dispatchPolicy.CaughtUp(State, worker));
            }
        }

        /// <summary>
        /// What a worker holds; a worker whose silo is gone holds nothing (its next call re-activates it
        /// elsewhere, where it answers with nothing); null when it could not be asked this time.
        /// </summary>
        private async Task<HashSet<string>?> Held(int worker)
        {
            try
            {
                return [.. await workers[worker].Grain.Holding().WaitAsync(AnswerTimeout)];
            }
            // Declared dead by membership, or re-activated with no device free: the samples are gone.
            catch (Exception e) when (e is SiloUnavailableException || Unavailable(e))
            {
                return [];
            }
            // Not reached this time (a connection refused before membership has declared the silo dead, a
            // timeout): asked again at the next audit.
            catch (Exception e) when (SiloLoss.Is(e))
            {
                return null;
            }
        }

        /// <summary>The worker re-activated and ready; or, with no device free for it, the least loaded of the others.</summary>
        private async Task<int> Revived(int worker)
        {
            if (!gone.Contains(worker))
            {
                try
                {
                    await owner.Revive(workers[worker].Index);
                    return worker;
                }
                catch (Exception e) when (Unavailable(e))
                {
                    gone.Add(worker);
                    if (WorkerStoppedException.In(e))
                    {
                        stopped.Add(worker);
                        owner.Notice(workers[worker].Index, Stopped(e));
                    }
                }
            }
            var others = Enumerable.Range(0, workers.Count).Where(w => !gone.Contains(w)).ToArray();
            return others.Length > 0
                ? others.MinBy(State.Load)
                : throw new InvalidOperationException($"every generation worker of the job was lost and none can be placed again");
        }

        private async Task Dispatch(int worker, int[] batch)
        {
            var key = owner.Keys.Worker(workers[worker].Index);
            await Task.WhenAll(batch.Select(k => SiloLoss.Retry(() => samples[k].Dispatched(starts[k], key))));
            try
            {
                await workers[worker].Grain.Submit([.. batch.Select(k => starts[k]).Select(s =>
                    new GenerationWork(s.Id, s.Prompt, s.SamplingSeed, s.MaxNewTokens, s.Temperature, [], [], s.EmulatedPrompt, PromptSeed: s.PromptSeed, Weights: weights, Step: s.Iteration))]);
            }
            catch (Exception e) when (SiloLoss.Is(e) || Unavailable(e))
            {
                // The worker's silo went (or the worker stopped): the next audit finds these samples not held there and sends them again.
            }
            submitted.UnionWith(batch);
        }

        /// <summary>An action that fails fails the step (the job then reports it).</summary>
        private void Watch(Task action) => action.ContinueWith(t => Trained.TrySetException(t.Exception!.InnerExceptions),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
    }

    /// <summary>The stopped worker's own message, however wrapped.</summary>
    public static string Stopped(Exception e) => e switch
    {
        WorkerStoppedException w => w.Message,
        AggregateException a => Stopped(a.InnerExceptions.First(WorkerStoppedException.In)),
        _ => Stopped(e.InnerException!),
    };
}

/// <summary>A step's rollout in flight: its records once all are scored, and its groups (sample indices) as each is scored whole.</summary>
public sealed record StepRollout(Task<SampleRecord[]> Records, ChannelReader<int[]> ScoredGroups);
