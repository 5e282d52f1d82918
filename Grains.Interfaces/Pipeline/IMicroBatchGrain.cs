using Grains.Interfaces.Cluster;
using Orleans.Concurrency;
using Grains.Interfaces.Rl;

namespace Grains.Interfaces.Pipeline;

/// <summary>
/// One micro-batch of one replica of a pipelined model (key: see <see cref="PipelineKeys"/>): the
/// samples (or preference pairs) it holds in the current step, and how far its forward and backward have
/// come through the stages. The first stage reads its token rows, the last its rows for the loss.
/// </summary>
public interface IMicroBatchGrain : IGrainWithStringKey
{
    /// <summary>Holds <paramref name="rows"/> for step <paramref name="step"/>; progress starts over.</summary>
    Task Assign(long step, TrainingRow[] rows);

    /// <summary>Holds a share of a DPO batch of pairs for step <paramref name="step"/>; progress starts over.</summary>
    Task AssignPairs(long step, PreferenceBatch pairs);

    /// <summary>What the micro-batch holds for step <paramref name="step"/>; asking for another step is an error.</summary>
    Task<MicroBatchInput> Input(long step);

    /// <summary>A stage finished this micro-batch's forward or backward.</summary>
    [OneWay]
    Task Passed(long step, int stage, bool backward);

    Task<MicroBatchProgress> Progress();
}

/// <summary>A micro-batch's step, samples, and the stages its forward and backward have passed.</summary>
[GenerateSerializer, Immutable]
public sealed record MicroBatchProgress(
    [property: Id(0)] long Step,
    [property: Id(1)] int Samples,
    [property: Id(2)] int[] ForwardStages,
    [property: Id(3)] int[] BackwardStages);

/// <summary>What a micro-batch holds for a step: RL rows, or a share of a DPO batch of pairs (its rows empty).</summary>
[GenerateSerializer, Immutable]
public sealed record MicroBatchInput([property: Id(0)] TrainingRow[] Rows, [property: Id(1)] PreferenceBatch? Pairs = null)
{
    /// <summary>Samples, or pairs.</summary>
    public int Count => Pairs?.Rows.Length ?? Rows.Length;
}
