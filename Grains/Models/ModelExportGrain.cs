using Grains.Interfaces.Jobs;
using Grains.Interfaces.Models;
using Grains.Storage;

namespace Grains.Models;

/// <summary>Serves one job's actor weights to <c>actors export</c>: read from the store once when opened, then in chunks.</summary>
public sealed class ModelExportGrain(ICheckpointStore store) : Grain, IModelExportGrain
{
    private byte[]? opened;

    public async Task<ExportedModel> Open(int? iteration)
    {
        var job = this.GetPrimaryKeyString();
        var spec = await GrainFactory.GetGrain<IJobGrain>(job).Spec();
        if (spec?.Rl is not { } rl) throw new ArgumentException(spec is null ? $"export: no job named '{job}'" : $"export: '{job}' is a {SpecNames.Of(spec.Kind)} job; only rl jobs train a model");
        if (rl.Emulated) throw new ArgumentException($"export: '{job}' ran on emulated devices, which make no weights");
        var keys = new JobKeys(job);
        var kept = (await store.ListAsync(keys.ActorWeightsPrefix)).Select(o => o.Name).ToList();
        var name = iteration is { } i ? keys.ActorWeights(i) : kept.LastOrDefault();
        if (name is null || !kept.Contains(name))
        {
            var versions = kept.Select(keys.ActorWeightsVersion).ToList();
            throw new ArgumentException($"export: job '{job}' has no weights{(iteration is { } v ? $" of iteration {v}" : "")} in the store"
                + (versions.Count > 0 ? $"; the versions kept are {string.Join(", ", versions)}" : ""));
        }
        opened = await ModelCatalog.ReadAsync(store, name);
        return new ExportedModel(name, keys.ActorWeightsVersion(name), opened.Length, rl.Model, rl.Temperature);
    }

    public Task<byte[]> Read(long offset, int most)
    {
        if (opened is null) throw new InvalidOperationException($"export of '{this.GetPrimaryKeyString()}': open a version first");
        var chunk = GrainChunks.Slice(opened, offset, most);
        // The last chunk read, the copy is let go.
        if (offset + chunk.Length >= opened.Length) this.DeactivateOnIdle();
        return Task.FromResult(chunk);
    }
}
