using System.Diagnostics;
using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;

namespace Grains.Iteration;

/// <summary>
/// Runs one step's rollout: creates its sample grains, hears each sample's progress from the job grain,
/// asks the stage and dispatch policies what to do, and carries their actions out on the sample grains
/// and generation workers, until the stage policy starts training. Runs on the job grain's scheduler,
/// so events and actions never race. Every <see cref="AuditPeriod"/> it asks each worker which samples
/// it holds: one sent there, neither held nor generated, was lost with the worker's silo and is sent
/// again (after <paramref name="revive"/> has readied the worker's new activation), from its prompt
/// and seed, so its response is the one it would have had.
/// </summary>
public sealed class RolloutScheduler(IGrainFactory grains, JobKeys keys, IGenerationWorkerGrain[] workers, Func<int, Task> revive)
{
    public static readonly TimeSpan AuditPeriod = TimeSpan.FromSeconds(2);

    private Step? current;
    private JobKeys Keys { get; } = keys;
    private IGenerationWorkerGrain[] Workers { get; } = workers;
    private Func<int, Task> Revive { get; } = revive;

    /// <summary>A sample grain reported a stage; reports of other steps' samples and repeats are ignored.</summary>
    public void SampleReached(string sampleId, SampleStage stage) => current?.Reached(sampleId, stage);

    /// <summary>The step's sample records once every one is scored and the stage policy starts training.</summary>
    public async Task<SampleRecord[]> Run(SampleStart[] starts, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy)
    {
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        await Task.WhenAll(samples.Select((s, k) => SiloLoss.Retry(() => s.Create(starts[k]))));
        var step = current = new Step(this, starts, samples, stagePolicy, dispatchPolicy);
        try
        {
            step.Carry(dispatchPolicy.Start(step.State));
            while (await Task.WhenAny(step.Trained.Task, Task.Delay(AuditPeriod)) != step.Trained.Task) await step.Audit();
            await step.Trained.Task;
        }
        finally
        {
            current = null;
        }
        return await Task.WhenAll(samples.Select(s => SiloLoss.Retry(s.Record)));
    }

    private sealed class Step(RolloutScheduler owner, SampleStart[] starts, ISampleGrain[] samples, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy)
    {
        private readonly Dictionary<string, int> index = starts.Select((s, k) => (s.Id, k)).ToDictionary();
        private readonly Stopwatch clock = Stopwatch.StartNew();
        // Samples a worker has been given (its Submit returned, or failed with its silo): what the audit checks.
        private readonly HashSet<int> submitted = [];

        public RolloutState State { get; } = new(starts.Length, owner.Workers.Length);
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
            if (stage >= SampleStage.Scored && State.Scored(k)) Carry(stagePolicy.Scored(State, k));
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
            foreach (var worker in submitted.Where(k => !State.IsGenerated(k)).GroupBy(State.WorkerOf).ToList())
            {
                var held = await Held(worker.Key);
                var missing = worker.Where(k => !held.Contains(starts[k].Id)).ToArray();
                if (missing.Length == 0) continue;
                var records = await Task.WhenAll(missing.Select(k => SiloLoss.Retry(samples[k].Record)));
                var lost = new List<int>();
                for (var m = 0; m < missing.Length; m++)
                {
                    if (records[m].Stage >= SampleStage.Generated) Reached(starts[missing[m]].Id, records[m].Stage);
                    else lost.Add(missing[m]);
                }
                if (lost.Count == 0) continue;
                await Task.WhenAll(lost.Select(k => SiloLoss.Retry(samples[k].Requeued)));
                submitted.ExceptWith(lost);
                await owner.Revive(worker.Key);
                await Dispatch(worker.Key, [.. lost]);
            }
        }

        /// <summary>What a worker holds; a worker whose silo is gone holds nothing (its next call re-activates it elsewhere).</summary>
        private async Task<HashSet<string>> Held(int worker)
        {
            try
            {
                return [.. await owner.Workers[worker].Holding()];
            }
            catch (Exception e) when (SiloLoss.Is(e))
            {
                return [];
            }
        }

        private async Task Dispatch(int worker, int[] batch)
        {
            var key = owner.Keys.Worker(worker);
            await Task.WhenAll(batch.Select(k => SiloLoss.Retry(() => samples[k].Dispatched(key))));
            try
            {
                await owner.Workers[worker].Submit([.. batch.Select(k => starts[k]).Select(s =>
                    new GenerationWork(s.Id, s.Prompt, s.SamplingSeed, s.MaxNewTokens, s.Temperature, [], [], s.EmulatedPrompt, PromptSeed: s.PromptSeed))]);
            }
            catch (Exception e) when (SiloLoss.Is(e))
            {
                // The worker's silo went: the next audit finds these samples not held there and sends them again.
            }
            submitted.UnionWith(batch);
        }

        /// <summary>An action that fails fails the step (the job then reports it).</summary>
        private void Watch(Task action) => action.ContinueWith(t => Trained.TrySetException(t.Exception!.InnerExceptions),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
    }
}
