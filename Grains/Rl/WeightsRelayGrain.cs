using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Storage;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;
using Orleans.Placement;

namespace Grains.Rl;

/// <summary>
/// A datacenter's copy of a job's weights versions. It is activated by the first silo of its datacenter
/// that asks (prefer-local placement: it lives where its readers are) and reads each version from the
/// store once; callers asking while the read is under way wait for that one read (reentrant).
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class WeightsRelayGrain(ICheckpointStore store, IOptions<CheckpointOptions> checkpoints) : Grain, IWeightsRelayGrain
{
    // Versions kept: an asynchronous job's workers may be a few versions apart.
    private const int Kept = 4;
    private readonly Dictionary<string, Task<byte[]>> versions = [];
    private readonly Queue<string> order = new();

    public async Task<WeightsChunk> Read(WeightsRef weights, long offset, int most)
    {
        var fetched = !versions.TryGetValue(weights.Object, out var read);
        if (fetched)
        {
            read = ModelCatalog.ReadAsync(store, weights.Object);
            versions[weights.Object] = read;
            order.Enqueue(weights.Object);
            while (order.Count > Kept) versions.Remove(order.Dequeue());
        }
        byte[] bytes;
        try
        {
            bytes = await read!;
        }
        catch
        {
            // A failed read is not kept: the next caller reads again.
            if (versions.GetValueOrDefault(weights.Object) == read) versions.Remove(weights.Object);
            throw;
        }
        var here = this.GetPrimaryKeyString()[..this.GetPrimaryKeyString().IndexOf('/')];
        WeightHop[] hops = fetched ? [new WeightHop(checkpoints.Value.Datacenter ?? here, here, bytes.Length)] : [];
        return new WeightsChunk(GrainChunks.Slice(bytes, offset, most), bytes.Length, hops);
    }
}
