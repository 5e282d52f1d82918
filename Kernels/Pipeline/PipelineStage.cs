using Kernels.Checkpoints;
using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Pipeline;

/// <summary>
/// One contiguous slice of a model (embedding with the first, head with the last) running the forward
/// and backward passes of micro-batches in any order a schedule gives. It keeps each in-flight
/// micro-batch's input and output until that micro-batch's backward, which accumulates the slice's
/// parameter gradients and returns the gradient of its input for the previous stage.
/// </summary>
public sealed class PipelineStage : IDisposable
{
    private readonly Dictionary<int, (Tensor? Input, Tensor Output)> inFlight = [];

    public PipelineStage(Transformer slice) => Slice = slice;

    public Transformer Slice { get; }
    public bool IsFirst => Slice.HasEmbedding;
    public bool IsLast => Slice.HasHead;
    public int InFlight => inFlight.Count;

    /// <summary>
    /// The contiguous layer ranges of <paramref name="stages"/> stages over <paramref name="layers"/>
    /// layers, as even as possible (the first stages take one more when it does not divide).
    /// </summary>
    public static (int First, int End)[] Partition(int layers, int stages)
    {
        if (stages < 1 || stages > layers) throw new ArgumentOutOfRangeException(nameof(stages), stages, $"need between 1 and {layers} stages for {layers} layers");
        var ranges = new (int, int)[stages];
        var first = 0;
        for (var s = 0; s < stages; s++)
        {
            var count = layers / stages + (s < layers % stages ? 1 : 0);
            ranges[s] = (first, first + count);
            first += count;
        }
        return ranges;
    }

    /// <summary>Splits a whole model into stages holding copies of its weights.</summary>
    public static PipelineStage[] Split(Transformer whole, int stages)
    {
        var weights = whole.state_dict();
        return Partition(whole.Config.Layers, stages).Select(r =>
        {
            var slice = new Transformer(whole.Config, whole.Head, 0, r.First, r.End);
            ModelCheckpoint.LoadWeights(slice, weights, allowUnexpected: true);
            return new PipelineStage(slice);
        }).ToArray();
    }

    /// <summary>
    /// Runs micro-batch <paramref name="microBatch"/> forward. Input: token ids on the first stage,
    /// the previous stage's output after it. Returns this stage's output, detached: what travels on.
    /// On the last stage, <paramref name="loss"/> turns the output into the micro-batch's scalar loss
    /// (already scaled for its share of the batch), which is returned instead.
    /// </summary>
    public Tensor Forward(int microBatch, Tensor input, Func<Tensor, Tensor>? loss = null)
    {
        if (inFlight.ContainsKey(microBatch)) throw new InvalidOperationException($"micro-batch {microBatch} is already in flight on this stage");
        if (IsLast != (loss is not null)) throw new ArgumentException(IsLast ? "the last stage needs a loss" : "only the last stage takes a loss");
        using var scope = NewDisposeScope();
        // The first stage's input is token ids, which need no gradient and stay the caller's.
        var received = IsFirst ? null : input.detach().requires_grad_(true);
        var output = Slice.Forward(received ?? input);
        if (loss is not null) output = loss(output);
        // Held until the micro-batch's backward, whatever scope the caller runs in.
        inFlight[microBatch] = (received?.DetachFromDisposeScope(), output.DetachFromDisposeScope());
        return output.detach().MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs a micro-batch forward for its outputs alone (no gradient, nothing kept for a backward): what a
    /// pipelined model's log-probs of the current weights take. Input as <see cref="Forward"/>'s; returns
    /// this stage's output (on the last stage, the head's).
    /// </summary>
    public Tensor Infer(Tensor input)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Slice.Forward(input).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Runs micro-batch <paramref name="microBatch"/> backward from the gradient of its output (none on
    /// the last stage, whose output is the loss). Returns the gradient of its input, or null on the first stage.
    /// </summary>
    public Tensor? Backward(int microBatch, Tensor? outputGradient = null)
    {
        if (!inFlight.Remove(microBatch, out var saved)) throw new InvalidOperationException($"micro-batch {microBatch} has no forward in flight on this stage");
        if (IsLast != (outputGradient is null)) throw new ArgumentException(IsLast ? "the last stage starts from its loss, not a gradient" : "a stage before the last needs its output's gradient");
        using (saved.Output)
        {
            if (outputGradient is null) saved.Output.backward();
            else saved.Output.backward([outputGradient]);
        }
        if (saved.Input is null) return null;
        using (saved.Input)
        {
            return saved.Input.grad!.detach().clone();
        }
    }

    public void Dispose()
    {
        foreach (var (input, output) in inFlight.Values)
        {
            input?.Dispose();
            output.Dispose();
        }
        inFlight.Clear();
    }
}
