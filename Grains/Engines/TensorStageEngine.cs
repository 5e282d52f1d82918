using Grains.Cluster;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Storage;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Pipeline;
using Kernels.Preference;
using Kernels.Rl;
using Kernels.Training;
using static TorchSharp.torch;

namespace Grains.Engines;

/// <summary>
/// A pipeline stage on a real device: its layers cut from the seeded model (every stage of every replica
/// cuts the same one; the embedding with the first stage, the head with the last), its AdamW state, and
/// the tensor work on a device thread of its own.
/// </summary>
public sealed class TensorStageEngine : IStageEngine
{
    private readonly StageSetup setup;
    private readonly DeviceThread device;
    private readonly PipelineStage stage;
    private readonly TrainedModel trained;

    private TensorStageEngine(StageSetup setup, DeviceThread device, PipelineStage stage, TrainedModel trained) =>
        (this.setup, this.device, this.stage, this.trained) = (setup, device, stage, trained);

    public static async Task<TensorStageEngine> Create(StageSetup setup, ICheckpointStore store, string name, TensorThreads threads)
    {
        var trainer = setup.Trainer;
        var config = ModelCatalog.Config(trainer.Model);
        if (setup.Stages < 1 || setup.Stages > config.Layers) throw new ArgumentException($"{trainer.Model} has {config.Layers} layers: it cannot be cut into {setup.Stages} stages");
        var options = TrainerSettings.Optimizer(trainer);
        var device = new DeviceThread($"stage {name}", threads);
        var (stage, trained) = await device.Run(() =>
        {
            using var whole = new Transformer(config, trainer.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, trainer.Seed);
            var (first, end) = PipelineStage.Partition(config.Layers, setup.Stages)[setup.Stage];
            var slice = new Transformer(config, whole.Head, trainer.Seed, first, end);
            ModelCheckpoint.LoadWeights(slice, whole.state_dict(), allowUnexpected: true);
            return (new PipelineStage(slice), new TrainedModel(slice, new AdamWOptimizer(slice.parameters(), options), device, store, slice: true));
        });
        return new TensorStageEngine(setup, device, stage, trained);
    }

    private WireFormat Wire => setup.BFloat16Wire ? WireFormat.BFloat16 : WireFormat.Float32;

    public Task BeginStep() => device.Run(() =>
    {
        foreach (var p in stage.Slice.parameters()) p.grad = null;
    });

    public Task<(byte[]? Output, UpdateSums Sums, PairSums Pairs)> Forward(int microBatch, byte[]? received, MicroBatchInput? input, double miniBatchTokens) => device.Run(() =>
    {
        using var scope = NewDisposeScope();
        var (sums, pairSums) = (UpdateSums.Zero, PairSums.Zero);
        Func<Tensor, Tensor>? loss = null;
        ResponseBatch? batch = null;
        if (input?.Pairs is { } share)
        {
            // A DPO step: chosen rows then rejected ones; the last stage's loss is the preference loss of its pairs.
            var pairs = share.Rows.Select(TrainerSettings.Example).ToArray();
            batch = PreferenceUpdate.Batch(stage.Slice, pairs);
            loss = output =>
            {
                var (value, s) = PreferenceUpdate.Loss(output, batch, pairs, share.BatchPairs, TrainerSettings.Loss(share.Loss), share.Beta);
                pairSums = TrainerSettings.Sums(s);
                return value;
            };
        }
        else if (input is not null)
        {
            var samples = input.Rows.Select(TrainerSettings.Sample).ToArray();
            batch = PolicyUpdate.Batch(stage.Slice, samples);
            var t = setup.Trainer;
            loss = output =>
            {
                (var value, sums) = t.Critic
                    ? PolicyUpdate.CriticLoss(output, batch, samples, miniBatchTokens, t.ValueClip)
                    : PolicyUpdate.ActorLoss(output, batch, samples, miniBatchTokens, TrainerSettings.ActorLoss(t));
                return value;
            };
        }
        var result = stage.Forward(microBatch, stage.IsFirst ? batch!.Tokens : TensorCodec.Decode(received!), stage.IsLast ? loss : null);
        return (stage.IsLast ? null : TensorCodec.Encode(result, Wire), sums, pairSums);
    });

    public Task<(byte[]? Output, float[][]? LogProbs)> Infer(int microBatch, byte[]? received, MicroBatchInput? input) => device.Run(() =>
    {
        using var scope = NewDisposeScope();
        var batch = input is null ? null : PolicyUpdate.Batch(stage.Slice, [.. input.Rows.Select(TrainerSettings.Sample)]);
        var output = stage.Infer(stage.IsFirst ? batch!.Tokens : TensorCodec.Decode(received!));
        return stage.IsLast ? ((byte[]?)null, ResponseScoring.LogProbs(output, batch!, setup.Trainer.Temperature)) : (TensorCodec.Encode(output, Wire), (float[][]?)null);
    });

    public Task<byte[]?> Backward(int microBatch, byte[]? received) => device.Run(() =>
    {
        using var scope = NewDisposeScope();
        var gradient = stage.Backward(microBatch, received is null ? null : TensorCodec.Decode(received));
        return gradient is null ? null : TensorCodec.Encode(gradient, Wire);
    });

    /// <summary>Nothing: the tensor's bytes are the message.</summary>
    public double TransferSeconds(byte[] output) => 0;

    public Task<float[]> Gradient() => device.Run(() => Gradients.Flatten(stage.Slice.parameters()));

    public Task SetGradient(float[] sum) => device.Run(() => Gradients.Assign(stage.Slice.parameters(), sum));

    public Task<double> GradNormSquared() => device.Run(() => trained.Optimizer.GradNormSquared());

    public Task Step(double norm) => device.Run(() => trained.Optimizer.Step(norm));

    public Task<byte[]> Weights() => trained.Weights();

    public Task LoadWeights(string objectName) => trained.LoadWeights(objectName);

    public Task SaveState(string name) => trained.SaveState(name);

    public Task LoadState(string name) => trained.LoadState(name);

    public async ValueTask DisposeAsync()
    {
        await device.Run(() => stage.Dispose());
        await trained.Dispose();
        device.Dispose();
    }
}
