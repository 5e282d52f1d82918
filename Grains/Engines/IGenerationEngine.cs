using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>A sample a generation engine finished: its tokens and log-probs (none on emulated devices) and its length.</summary>
public sealed record FinishedWork(string SampleId, int[] Response, float[] LogProbs, int Length, bool Truncated, ToolTurns? Turns = null);

/// <summary>
/// What a generation worker's device does: hold a policy, batch samples continuously, and advance the
/// batch. The worker grain decides what to admit and when; the engine says whether a sample fits and
/// does the device work, on real tensors or on the cost model.
/// </summary>
public interface IGenerationEngine : IAsyncDisposable
{
    Task LoadWeights(WeightsRef weights);

    /// <summary>Samples admitted and not finished or evicted.</summary>
    int Count { get; }

    bool Holds(string sampleId);

    /// <summary>Admits a sample if it fits now (always when nothing is running).</summary>
    bool TryAdmit(GenerationWork work);

    /// <summary>Runs the batch until at least one sample finishes or a short while has passed.</summary>
    Task<IReadOnlyList<FinishedWork>> Advance();

    /// <summary>Every admitted sample that has begun, with its progress, left running.</summary>
    Task<GenerationWork[]> Progress();

    /// <summary>Takes every admitted sample out unfinished, with its progress.</summary>
    Task<GenerationWork[]> EvictAll();

    /// <summary>
    /// Takes every admitted sample out for a newer weights version (partial rollouts), with its progress, to be
    /// admitted again under it; the device may keep their KV caches to resume them on (an emulated one does
    /// where the job's <see cref="GenerationLimits.InterruptedCache"/> lets the cost model choose).
    /// </summary>
    Task<GenerationWork[]> Interrupt();

    /// <summary>
    /// Takes the named admitted samples out unfinished, with their progress and, as <paramref name="move"/>
    /// says, their KV cache; the others go on as they were.
    /// </summary>
    Task<GenerationWork[]> Evict(IReadOnlySet<string> sampleIds, MigrationMove move);

    /// <summary>
    /// A sample taken out of the worker's queue for another worker: its work, with the KV cache this device
    /// kept for it at an interruption when <paramref name="move"/> says so (or the cost model finds sending
    /// it sooner than a prefill there); the device lets go of that cache either way.
    /// </summary>
    GenerationWork Dequeued(GenerationWork work, MigrationMove move);

    /// <summary>
    /// Greedy responses with the loaded weights, or with <paramref name="other"/> (a version the batch is not on)
    /// on a copy; with <paramref name="tools"/>, calling them as a sample would (the answers in the responses).
    /// </summary>
    Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef? other, ToolUse? tools);

    /// <summary>Busy seconds (wall) since the last call, and for emulated devices what was done when.</summary>
    (double BusySeconds, BusyInterval[]? Intervals) TakeUsage();
}
