using Grains.Interfaces.Cluster;
namespace Grains.Interfaces.Pipeline;

/// <summary>
/// One stage of one data-parallel replica of a pipelined model (key: see <see cref="PipelineKeys"/>),
/// pinned to a training device: that stage's layers and their optimizer state. In a step it runs its
/// passes in its device's order, takes activations from the stage before and gradients from the stage
/// after, and sends its own on directly; then it sums its gradient with the same stage of the other
/// replicas, takes the gradient norm over its replica's stages, and applies the update.
/// </summary>
public interface IPipelineStageGrain : IDeviceGrain
{
    Task Setup(StageSetup setup);

    /// <summary>Runs one step's passes and the update; returns what the stage did.</summary>
    Task<StageReport> Run(StageStep step);

    /// <summary>The previous stage's output for a micro-batch (a <c>TensorCodec</c> buffer).</summary>
    Task Activation(long step, int microBatch, byte[] data);

    /// <summary>The next stage's gradient of this stage's output for a micro-batch.</summary>
    Task Gradient(long step, int microBatch, byte[] data);

    /// <summary>Another replica's gradient of this stage (flat fp32), for the data-parallel sum.</summary>
    Task PeerGradient(long step, int replica, float[] gradient);

    /// <summary>Another stage's squared gradient norm, for the norm over the whole model.</summary>
    Task PeerNorm(long step, int stage, double squaredNorm);

    /// <summary>Another stage failed step <paramref name="step"/>: stop waiting for its messages.</summary>
    Task Abort(long step, string reason);

    /// <summary>This stage's weights as safetensors bytes, under the whole model's parameter names.</summary>
    Task<byte[]> Weights();

    /// <summary>Loads this stage's layers from a whole model's safetensors object in the checkpoint store.</summary>
    Task LoadWeights(string objectName);

    /// <summary>Writes this stage's weights and optimizer state under prefix/{model}.s{stage}.*; reads them back.</summary>
    Task SaveState(string prefix);

    Task LoadState(string prefix);
}
