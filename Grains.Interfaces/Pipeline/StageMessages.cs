using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Interfaces.Pipeline;

/// <summary>
/// What a pipeline-stage grain holds: stage <see cref="Stage"/> of <see cref="Stages"/> of replica
/// <see cref="Replica"/> of the model <see cref="Trainer"/> describes (built from its seed, so every
/// stage of every replica cuts the same initial model; the embedding with the first stage, the head with
/// the last), the wire format of what it sends, and the grains it talks to: the stages before and after
/// it, the same stage of the other replicas (gradients are summed with them), and the other stages of
/// its replica (the gradient norm is taken over all of them).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageSetup(
    [property: Id(0)] TrainerSetup Trainer,
    [property: Id(1)] int Replica,
    [property: Id(2)] int Stage,
    [property: Id(3)] int Stages,
    [property: Id(4)] bool BFloat16Wire,
    [property: Id(5)] string? Previous,
    [property: Id(6)] string? Next,
    [property: Id(7)] string[] DataParallelPeers,
    [property: Id(8)] string[] PipelinePeers);

/// <summary>
/// One training step for one stage grain: the step's number, its passes with their places in its
/// device's order (the device runs place 0, 1, 2... whichever of its grains holds it), the device's
/// key, the micro-batch grains' keys, and the tokens of the whole mini-batch (the loss's divisor; a DPO step's
/// pairs carry their batch's pair count instead). An <see cref="Inference"/> step runs forward passes alone,
/// for the current weights' log-probs: no gradient, no update.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageStep(
    [property: Id(0)] long Step,
    [property: Id(1)] string Device,
    [property: Id(2)] int[] Places,
    [property: Id(3)] PipelinePass[] Passes,
    [property: Id(4)] string[] MicroBatches,
    [property: Id(5)] double MiniBatchTokens,
    [property: Id(6)] bool Inference = false);

/// <summary>The log-probs of one micro-batch's rows (each row's response tokens), as a last stage computed them in an inference step.</summary>
[GenerateSerializer, Immutable]
public sealed record MicroBatchLogProbs(
    [property: Id(0)] int MicroBatch,
    [property: Id(1)] float[][] Rows);

/// <summary>
/// What a stage did in one step: its passes' device seconds, its wall seconds from the step's start to its last
/// pass, the loss sums of its last-stage passes (of a DPO step's pairs: <see cref="Pairs"/>), and its gradient norm;
/// of an inference step, a last stage's micro-batches' log-probs (<see cref="LogProbs"/>).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StageReport(
    [property: Id(0)] string Stage,
    [property: Id(1)] string Device,
    [property: Id(2)] double BusySeconds,
    [property: Id(3)] double Seconds,
    [property: Id(4)] TrainSums Sums,
    [property: Id(5)] double GradNorm,
    [property: Id(6)] BusyInterval[] Intervals,
    [property: Id(7)] PairSums? Pairs = null,
    [property: Id(8)] MicroBatchLogProbs[]? LogProbs = null);
