using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Kernels.Emulation;
using Kernels.Pipeline;
using Kernels.Rl;

namespace Grains.Engines;

/// <summary>
/// A pipeline stage on an emulated device: its passes take the cost model's seconds for its slice of the
/// layers (<see cref="CostModel.StageForwardSeconds"/>; a backward two forwards) over the micro-batch's
/// sequences, and what travels between stages is those sequences' lengths, which is what the next stage's
/// cost needs, delayed by the activations' transfer between nodes (<see cref="CostModel.ActivationTransferSeconds"/>
/// on InfiniBand: consecutive stages sit on different tensor-parallel groups). Gradients are empty and
/// the optimizer step costs nothing, as the emulated data-parallel trainer's; there are no weights.
/// </summary>
/// <param name="clock">The device's time line (a colocated device's is shared with its worker and scorer).</param>
public sealed class EmulatedStageEngine(StageSetup setup, EmulatedDevice device, IDeviceTime clock) : IStageEngine
{
    private readonly CostModel cost = EmulatedCosts.Of(device);
    private readonly Dictionary<int, int[]> inFlight = [];
    private int Layers => Range.End - Range.First;
    private (int First, int End) Range => PipelineStage.Partition(cost.Model.Layers, setup.Stages)[setup.Stage];
    private bool IsFirst => setup.Stage == 0;
    private bool IsLast => setup.Stage == setup.Stages - 1;
    private const string Bar = "training";

    public Task BeginStep()
    {
        inFlight.Clear();
        return Task.CompletedTask;
    }

    public async Task<(byte[]? Output, UpdateSums Sums, PairSums Pairs)> Forward(int microBatch, byte[]? received, MicroBatchInput? input, double miniBatchTokens)
    {
        if (input?.Pairs is not null) throw new NotSupportedException("emulated devices model RL steps only: a DPO job trains on tensor devices");
        var rows = input?.Rows;
        var lengths = IsFirst ? [.. rows!.Select(r => r.PromptTokens + r.ResponseTokens)] : Lengths(received!);
        inFlight[microBatch] = lengths;
        await clock.Occupy(cost.StageForwardSeconds(Layers, IsLast, lengths), Bar);
        var sums = IsLast ? new UpdateSums(rows!.Sum(r => r.ResponseTokens), 0, 0, 0, 0, 0) : UpdateSums.Zero;
        return (IsLast ? null : Bytes(lengths), sums, PairSums.Zero);
    }

    /// <summary>The forward's time; the log-probs carry no numbers (as an emulated trainer's).</summary>
    public async Task<(byte[]? Output, float[][]? LogProbs)> Infer(int microBatch, byte[]? received, MicroBatchInput? input)
    {
        var rows = input?.Rows;
        var lengths = IsFirst ? [.. rows!.Select(r => r.PromptTokens + r.ResponseTokens)] : Lengths(received!);
        await clock.Occupy(cost.StageForwardSeconds(Layers, IsLast, lengths), Bar);
        return IsLast ? (null, [.. rows!.Select(_ => Array.Empty<float>())]) : (Bytes(lengths), null);
    }

    public async Task<byte[]?> Backward(int microBatch, byte[]? received)
    {
        if (!inFlight.Remove(microBatch, out var lengths)) throw new InvalidOperationException($"stage {setup.Stage}: backward of micro-batch {microBatch} before its forward");
        await clock.Occupy(2 * cost.StageForwardSeconds(Layers, IsLast, lengths), Bar);
        return IsFirst ? null : Bytes(lengths);
    }

    public double TransferSeconds(byte[] output) => cost.ActivationTransferSeconds(Lengths(output).Sum(t => (double)t), Link.InfiniBand) / clock.TimeScale;

    public Task<float[]> Gradient() => Task.FromResult(Array.Empty<float>());

    public Task SetGradient(float[] sum) => Task.CompletedTask;

    public Task<double> GradNormSquared() => Task.FromResult(0.0);

    public Task Step(double norm) => Task.CompletedTask;

    public Task<byte[]> Weights() => throw NotModelled("weights");

    public Task LoadWeights(string objectName) => Task.CompletedTask;

    public Task SaveState(string name) => throw NotModelled("a checkpoint");

    public Task LoadState(string name) => throw NotModelled("a checkpoint");

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static byte[] Bytes(int[] lengths)
    {
        var bytes = new byte[lengths.Length * sizeof(int)];
        Buffer.BlockCopy(lengths, 0, bytes, 0, bytes.Length);
        return bytes;
    }

    private static int[] Lengths(byte[] bytes)
    {
        var lengths = new int[bytes.Length / sizeof(int)];
        Buffer.BlockCopy(bytes, 0, lengths, 0, bytes.Length);
        return lengths;
    }

    private static NotSupportedException NotModelled(string what) => new($"an emulated pipeline stage holds no weights, so it has no {what}");
}
