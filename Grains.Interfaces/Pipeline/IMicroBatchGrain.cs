using Grains.Interfaces.Cluster;
using Orleans.Concurrency;
using Grains.Interfaces.Rl;

namespace Grains.Interfaces.Pipeline;

/// <summary>
/// One micro-batch of one replica of a pipelined model (key: see <see cref="PipelineKeys"/>): the
/// samples it holds in the current step, and how far its forward and backward have come through the
/// stages. The first stage reads its token rows, the last its rows for the loss.
/// </summary>
public interface IMicroBatchGrain : IGrainWithStringKey
{
    /// <summary>Holds <paramref name="rows"/> for step <paramref name="step"/>; progress starts over.</summary>
    Task Assign(long step, TrainingRow[] rows);

    Task<TrainingRow[]> Rows(long step);

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
