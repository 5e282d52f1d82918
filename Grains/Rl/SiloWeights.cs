using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Storage;
using Microsoft.Extensions.Options;

namespace Grains.Rl;

/// <summary>
/// How a silo's generation workers read trained weights. In the checkpoint store's datacenter each worker
/// reads the store. In another, a version crosses the link once, into the datacenter's relay
/// (<see cref="IWeightsRelayGrain"/>), and from there once into each silo, whose workers share that copy:
/// a tree of the store, a relay per datacenter and a copy per silo. Each transfer is reported, as a
/// <see cref="WeightHop"/>, to the worker whose read caused it, and so counted once.
/// </summary>
public sealed class SiloWeights(ICheckpointStore store, IOptions<CheckpointOptions> checkpoints, IGrainFactory grains, ILocalSiloDetails silo, SiloDeclarations metadata)
{
    // Versions a silo keeps: an asynchronous job's workers may be a few versions apart.
    private const int Kept = 4;
    private readonly Dictionary<string, Task<(byte[] Bytes, WeightHop[] Hops)>> copies = [];
    private readonly Queue<string> order = new();

    private string Here => metadata.DatacenterOf(silo.SiloAddress);

    /// <summary>The version's bytes; the transfers this read caused are added to <paramref name="hops"/>.</summary>
    public async Task<byte[]> Read(WeightsRef weights, ICollection<WeightHop> hops)
    {
        var here = Here;
        var storeDatacenter = checkpoints.Value.Datacenter ?? here;
        if (storeDatacenter == here)
        {
            var read = await ModelCatalog.ReadAsync(store, weights.Object);
            hops.Add(new WeightHop(storeDatacenter, here, read.Length));
            return read;
        }
        Task<(byte[] Bytes, WeightHop[] Hops)> copy;
        bool mine;
        lock (copies)
        {
            mine = !copies.TryGetValue(weights.Object, out copy!);
            if (mine)
            {
                copy = FromRelay(weights, here);
                copies[weights.Object] = copy;
                order.Enqueue(weights.Object);
                while (order.Count > Kept) copies.Remove(order.Dequeue());
            }
        }
        try
        {
            var (bytes, caused) = await copy;
            if (mine) foreach (var hop in caused) hops.Add(hop);
            return bytes;
        }
        catch
        {
            // A failed copy is not kept: the next read tries again.
            lock (copies) if (copies.GetValueOrDefault(weights.Object) == copy) copies.Remove(weights.Object);
            throw;
        }
    }

    private async Task<(byte[] Bytes, WeightHop[] Hops)> FromRelay(WeightsRef weights, string here)
    {
        var relay = grains.GetGrain<IWeightsRelayGrain>($"{here}/{weights.Object[..Math.Max(0, weights.Object.LastIndexOf('/'))]}");
        // The relay is a copy: lost with its silo, it is activated again elsewhere in the datacenter and reads
        // the store again (the same bytes), so a read goes on from where it was rather than fail the worker's load.
        var first = await Cluster.SiloLoss.Retry(() => relay.Read(weights, 0, checkpoints.Value.ChunkBytes));
        var bytes = await GrainChunks.Gather($"{weights.Object} from the weights relay of {here}", first.Length,
            async offset => (await Cluster.SiloLoss.Retry(() => relay.Read(weights, offset, checkpoints.Value.ChunkBytes))).Bytes, first.Bytes);
        return (bytes, [.. first.Hops, new WeightHop(here, here, bytes.Length)]);
    }
}
