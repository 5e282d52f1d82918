using Grains.Cluster;
using Grains.Storage;
using Kernels.Model;
using Kernels.Training;

namespace Grains.Models;

/// <summary>
/// A model being trained (a whole model, or a pipeline stage's slice), its AdamW state, the device
/// thread they live on, and how they move through the checkpoint store: one core for trainer replicas
/// and pipeline stages alike. A state is two objects, "{name}.safetensors" and "{name}.optimizer".
/// </summary>
/// <param name="slice">Whole-model weights are cut to this model's layers when loaded (a pipeline stage).</param>
public sealed class TrainedModel(Transformer model, AdamWOptimizer optimizer, DeviceThread device, ICheckpointStore store, bool slice = false)
{
    public Transformer Model => model;
    public AdamWOptimizer Optimizer => optimizer;

    /// <summary>The weights as safetensors bytes, under the whole model's parameter names.</summary>
    public Task<byte[]> Weights() => device.Run(() => ModelCatalog.Serialize(model));

    public async Task Publish(string objectName) => await ModelCatalog.WriteAsync(store, objectName, await Weights());

    /// <summary>Loads weights from a whole model's safetensors object.</summary>
    public async Task LoadWeights(string objectName)
    {
        var bytes = await ModelCatalog.ReadAsync(store, objectName);
        await device.Run(() => ModelCatalog.Deserialize(model, bytes, objectName, slice));
    }

    public async Task SaveState(string name)
    {
        var (weights, state) = await device.Run(() =>
        {
            using var buffer = new MemoryStream();
            optimizer.Save(buffer);
            return (ModelCatalog.Serialize(model), buffer.ToArray());
        });
        await ModelCatalog.WriteAsync(store, $"{name}.safetensors", weights);
        await ModelCatalog.WriteAsync(store, $"{name}.optimizer", state);
    }

    public async Task LoadState(string name)
    {
        var weights = await ModelCatalog.ReadAsync(store, $"{name}.safetensors");
        var state = await ModelCatalog.ReadAsync(store, $"{name}.optimizer");
        await device.Run(() =>
        {
            ModelCatalog.Deserialize(model, weights, $"{name}.safetensors");
            optimizer.Load(new MemoryStream(state));
        });
    }

    /// <summary>Frees the tensors, on the device thread.</summary>
    public Task Dispose() => device.Run(() =>
    {
        optimizer.Dispose();
        model.Dispose();
    });
}
