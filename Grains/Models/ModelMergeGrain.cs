using Grains.Interfaces.Models;
using Grains.Storage;
using Kernels.Checkpoints;
using Orleans.Concurrency;

namespace Grains.Models;

/// <summary>Merges models from the store into the store (<see cref="ModelMerge"/>); the result is an object a job can start from (rl.initialWeights).</summary>
[StatelessWorker]
public sealed class ModelMergeGrain(ICheckpointStore store) : Grain, IModelMergeGrain
{
    public async Task<MergedModel> Merge(MergeRequest request)
    {
        Check(request);
        var contents = new List<SafeTensorsContent>();
        try
        {
            foreach (var input in request.Inputs)
            {
                if (await store.GetAsync(input) is null) throw new ArgumentException($"merge: no object '{input}' in the checkpoint store");
                try
                {
                    contents.Add(SafeTensors.Load(new MemoryStream(await ModelCatalog.ReadAsync(store, input))));
                }
                catch (InvalidDataException e)
                {
                    throw new InvalidDataException($"merge: {input}: {e.Message}", e);
                }
            }
            Dictionary<string, TorchSharp.torch.Tensor> merged;
            try
            {
                merged = request.Slerp is { } t
                    ? ModelMerge.Slerp(contents[0].Tensors, contents[1].Tensors, t)
                    : ModelMerge.Linear([.. contents.Select(c => c.Tensors)], request.Weights!);
            }
            catch (InvalidDataException e)
            {
                throw new InvalidDataException($"merge of {string.Join(", ", request.Inputs)}: {e.Message}", e);
            }
            using var buffer = new MemoryStream();
            try
            {
                SafeTensors.Save(buffer, merged, contents[0].Metadata);
            }
            finally
            {
                foreach (var tensor in merged.Values) tensor.Dispose();
            }
            var written = await store.WriteAsync(request.Output, new MemoryStream(buffer.ToArray()));
            return new MergedModel(written.Name, merged.Count, written.Length, written.Sha256);
        }
        finally
        {
            foreach (var content in contents) content.Dispose();
        }
    }

    private static void Check(MergeRequest request)
    {
        if (request.Inputs.Length < 2) throw new ArgumentException($"merge: two or more models to merge, not {request.Inputs.Length}");
        if (request.Slerp is not null && request.Weights is not null) throw new ArgumentException("merge: either weights (linear) or slerp, not both");
        if (request.Slerp is not null && request.Inputs.Length != 2) throw new ArgumentException($"merge: slerp merges two models, not {request.Inputs.Length}");
        if (request.Slerp is null && request.Weights?.Length != request.Inputs.Length)
        {
            throw new ArgumentException($"merge: {request.Weights?.Length ?? 0} weights for {request.Inputs.Length} models: give one weight per model");
        }
        foreach (var name in request.Inputs.Append(request.Output)) CheckpointStoreExtensions.CheckName(name);
    }
}
