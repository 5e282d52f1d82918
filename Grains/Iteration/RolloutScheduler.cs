using System.Diagnostics;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;

namespace Grains.Iteration;

/// <summary>
/// Runs one step's rollout: creates its sample grains, hears each sample's progress from the job grain,
/// asks the stage and dispatch policies what to do, and carries their actions out on the sample grains
/// and generation workers, until the stage policy starts training. Runs on the job grain's scheduler,
/// so events and actions never race.
/// </summary>
public sealed class RolloutScheduler(IGrainFactory grains, JobKeys keys, IGenerationWorkerGrain[] workers)
{
    private Step? current;
    private JobKeys Keys { get; } = keys;
    private IGenerationWorkerGrain[] Workers { get; } = workers;

    /// <summary>A sample grain reported a stage; reports of other steps' samples and repeats are ignored.</summary>
    public void SampleReached(string sampleId, SampleStage stage) => current?.Reached(sampleId, stage);

    /// <summary>The step's sample records once every one is scored and the stage policy starts training.</summary>
    public async Task<SampleRecord[]> Run(SampleStart[] starts, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy)
    {
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        await Task.WhenAll(samples.Select((s, k) => s.Create(starts[k])));
        var step = current = new Step(this, starts, samples, stagePolicy, dispatchPolicy);
        try
        {
            step.Carry(dispatchPolicy.Start(step.State));
            await step.Trained.Task;
        }
        finally
        {
            current = null;
        }
        return await Task.WhenAll(samples.Select(s => s.Record()));
    }

    private sealed class Step(RolloutScheduler owner, SampleStart[] starts, ISampleGrain[] samples, IStagePolicy stagePolicy, IDispatchPolicy dispatchPolicy)
    {
        private readonly Dictionary<string, int> index = starts.Select((s, k) => (s.Id, k)).ToDictionary();
        private readonly Stopwatch clock = Stopwatch.StartNew();

        public RolloutState State { get; } = new(starts.Length, owner.Workers.Length);
        public TaskCompletionSource Trained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Reached(string sampleId, SampleStage stage)
        {
            if (!index.TryGetValue(sampleId, out var k)) return;
            State.Clock = clock.Elapsed.TotalSeconds;
            if (stage == SampleStage.Generated && State.Generated(k))
            {
                Carry(dispatchPolicy.Generated(State, k, State.WorkerOf(k)));
                Carry(stagePolicy.Generated(State, k));
            }
            if (stage == SampleStage.Scored && State.Scored(k)) Carry(stagePolicy.Scored(State, k));
        }

        public void Carry(IReadOnlyList<RolloutAction> actions)
        {
            foreach (var group in actions.OfType<DispatchTo>().GroupBy(d => d.Worker))
            {
                foreach (var d in group) State.Dispatched(d.Sample, d.Worker);
                Watch(Dispatch(group.Key, [.. group.Select(d => starts[d.Sample])]));
            }
            foreach (var score in actions.OfType<ScoreSample>()) Watch(samples[score.Sample].Score());
            if (actions.OfType<StartTraining>().Any()) Trained.TrySetResult();
        }

        private async Task Dispatch(int worker, SampleStart[] batch)
        {
            var key = owner.Keys.Worker(worker);
            await Task.WhenAll(batch.Select(s => samples[index[s.Id]].Dispatched(key)));
            await owner.Workers[worker].Submit([.. batch.Select(s => new GenerationWork(s.Id, s.Prompt, s.SamplingSeed, s.MaxNewTokens, s.Temperature, [], [], s.EmulatedPrompt, PromptSeed: s.PromptSeed))]);
        }

        /// <summary>An action that fails fails the step (the job then reports it).</summary>
        private void Watch(Task action) => action.ContinueWith(t => Trained.TrySetException(t.Exception!.InnerExceptions),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
    }
}
