using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Kernels.Rl;

namespace Grains.Engines;

/// <summary>
/// What a pipeline stage's device does: forward and backward passes of micro-batches through its slice
/// of the model, its share of the optimizer step, and its weights and state in the store. What a pass
/// returns travels to the next (or previous) stage as it is.
/// </summary>
public interface IStageEngine : IAsyncDisposable
{
    /// <summary>Clears the gradients the last step left.</summary>
    Task BeginStep();

    /// <summary>
    /// Micro-batch <paramref name="microBatch"/> forward: from its rows on the first stage, from what the
    /// stage before sent otherwise. Returns what goes to the next stage (none from the last), and on the
    /// last the loss sums of its rows, each row's loss divided by <paramref name="miniBatchTokens"/> (of
    /// a DPO step's pairs, each pair's divided by its batch's pairs).
    /// </summary>
    Task<(byte[]? Output, UpdateSums Sums, PairSums Pairs)> Forward(int microBatch, byte[]? received, MicroBatchInput? input, double miniBatchTokens);

    /// <summary>
    /// Micro-batch <paramref name="microBatch"/> forward for the current weights' log-probs alone (nothing kept
    /// for a backward): returns what goes to the next stage, and on the last each row's log-probs of its
    /// response tokens at the trainer's temperature.
    /// </summary>
    Task<(byte[]? Output, float[][]? LogProbs)> Infer(int microBatch, byte[]? received, MicroBatchInput? input);

    /// <summary>Micro-batch <paramref name="microBatch"/> backward; returns the gradient for the stage before (none from the first).</summary>
    Task<byte[]?> Backward(int microBatch, byte[]? received);

    /// <summary>Wall seconds <paramref name="output"/> spends on the link to its neighbour beyond the call that carries it (what an emulated link adds).</summary>
    double TransferSeconds(byte[] output);

    /// <summary>The stage's gradient, flattened, to be summed with the other replicas'.</summary>
    Task<float[]> Gradient();

    /// <summary>Replaces the stage's gradient with the replicas' sum.</summary>
    Task SetGradient(float[] sum);

    Task<double> GradNormSquared();

    /// <summary>The optimizer step, the gradient clipped by the whole model's norm.</summary>
    Task Step(double norm);

    Task<byte[]> Weights();

    Task LoadWeights(string objectName);

    Task SaveState(string name);

    Task LoadState(string name);
}
