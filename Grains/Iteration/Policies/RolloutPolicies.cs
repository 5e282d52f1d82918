using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Iteration.Policies;

/// <summary>The policies a job's settings name, fresh for each step (a dispatch policy may keep a step's cursor).</summary>
public static class RolloutPolicies
{
    public static IStagePolicy Stage(StagePolicy policy) => policy switch
    {
        StagePolicy.Barrier => new BarrierPolicy(),
        StagePolicy.Streaming => new StreamingPolicy(),
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "no such stage policy"),
    };

    /// <summary>
    /// A tail-batching round over these samples (groups numbered in order): it keeps promptsPerIteration
    /// groups of samplesPerPrompt, scored as the stage policy says (streaming: as each is kept; barrier: at the round's end).
    /// </summary>
    public static TailBatchRound TailBatch(RlSpec rl, IReadOnlyList<SampleStart> starts)
    {
        var number = new Dictionary<string, int>();
        int[] groupOf = [.. starts.Select(s => number.TryGetValue(s.Group, out var g) ? g : number[s.Group] = number.Count)];
        return new TailBatchRound(groupOf, rl.PromptsPerIteration, rl.SamplesPerPrompt, streaming: rl.StagePolicy == StagePolicy.Streaming);
    }

    /// <param name="forecast">Each sample's forecast length score (skew-aware dispatch orders by it).</param>
    /// <param name="split">The long-tail workers and their batch (skew-aware dispatch).</param>
    /// <param name="workers">The workers the step is dealt to: those the job runs with now (its pools' division, less any lost), not the file's count.</param>
    public static IDispatchPolicy Dispatch(RlSpec rl, IReadOnlyList<double> forecast, SkewSplit split, int workers)
    {
        // A worker's fair share of the step at a time, at most its batch: a worker that catches up on an
        // older step (asynchronous jobs) takes its share, not a batch that would leave the others idle.
        var share = Math.Min(rl.MaxBatch, (forecast.Count + workers - 1) / workers);
        return rl.Dispatch switch
        {
            DispatchPolicy.RoundRobin => new RoundRobinDispatch(),
            DispatchPolicy.Pull => new PullDispatch(share),
            DispatchPolicy.SkewAware => new SkewAwareDispatch([.. Enumerable.Range(0, forecast.Count).OrderByDescending(k => forecast[k]).ThenBy(k => k)],
                split.LongWorkers, split.LongBatch,
                Math.Min(rl.MaxBatch, (forecast.Count - split.LongWorkers * split.LongBatch + workers - split.LongWorkers - 1) / Math.Max(1, workers - split.LongWorkers))),
            _ => throw new ArgumentOutOfRangeException(nameof(rl), rl.Dispatch, "no such dispatch policy"),
        };
    }
}
