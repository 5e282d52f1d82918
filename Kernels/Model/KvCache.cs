using static TorchSharp.torch;

namespace Kernels.Model;

/// <summary>
/// Keys and values of every layer for a fixed number of slots, one running sequence per slot. A
/// sequence's token at position p lives at index p of its slot, so sequences of any length share
/// the cache and a slot is reused as soon as its sequence leaves.
/// </summary>
public sealed class KvCache : IDisposable
{
    private readonly LayerCache[] layers;
    // Made once: arange takes Scalars, which a step must not create (see AdamWOptimizer).
    private readonly Tensor positions;

    public KvCache(ModelConfig config, int slots, int maxLength, Device? device = null)
    {
        if (slots < 1) throw new ArgumentOutOfRangeException(nameof(slots), slots, "a cache needs at least one slot");
        if (maxLength < 1 || maxLength > config.MaxPositions)
        {
            throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, $"must be between 1 and max_position_embeddings ({config.MaxPositions})");
        }
        Slots = slots;
        MaxLength = maxLength;
        positions = arange(maxLength, dtype: int64, device: device).DetachFromDisposeScope();
        layers = Enumerable.Range(0, config.Layers)
            .Select(_ => new LayerCache(slots, maxLength, config.KvHeads, config.HeadDim, device, positions)).ToArray();
    }

    public int Slots { get; }
    public int MaxLength { get; }

    internal LayerCache Layer(int index) => layers[index];

    /// <summary>Slot <paramref name="slot"/>'s keys and values at positions [0, length), per layer, [kvHeads, length, headDim] each.</summary>
    public (Tensor Keys, Tensor Values)[] Export(int slot, int length) =>
        layers.Select(l => l.Export(slot, length)).ToArray();

    /// <summary>Writes exported keys and values into <paramref name="slot"/> at positions [0, length).</summary>
    public void Import(int slot, (Tensor Keys, Tensor Values)[] entries)
    {
        if (entries.Length != layers.Length) throw new ArgumentException($"the cache has {layers.Length} layers, the entries {entries.Length}");
        for (var i = 0; i < layers.Length; i++) layers[i].Import(slot, entries[i].Keys, entries[i].Values);
    }

    public void Dispose()
    {
        foreach (var layer in layers) layer.Dispose();
        positions.Dispose();
    }
}

/// <summary>One layer's cache, laid out [slot, position, kvHead, headDim] so that a row's new entries are one indexed write.</summary>
internal sealed class LayerCache(int slots, int maxLength, int kvHeads, int headDim, Device? device, Tensor positions) : IDisposable
{
    /// <summary>The positions 0 .. S - 1 of a read of span S.</summary>
    public Tensor KeyPositions(long span) => positions.narrow(0, 0, span);

    private readonly Tensor keys = zeros([slots, maxLength, kvHeads, headDim], device: device).DetachFromDisposeScope();
    private readonly Tensor values = zeros([slots, maxLength, kvHeads, headDim], device: device).DetachFromDisposeScope();

    /// <summary>
    /// Stores k and v ([B, kvHeads, T, D]) of row b at its slot and positions, then returns each row's
    /// cached keys and values for positions [0, max position + 1), shaped [B, kvHeads, S, D].
    /// </summary>
    public (Tensor Keys, Tensor Values) WriteAndRead(Tensor slots, Tensor positions, Tensor k, Tensor v)
    {
        var rows = slots.view(-1, 1).expand_as(positions);
        keys.index_put_(k.transpose(1, 2).detach(), rows, positions);
        values.index_put_(v.transpose(1, 2).detach(), rows, positions);
        var span = positions.max().item<long>() + 1;
        return (Read(keys, slots, span), Read(values, slots, span));
    }

    private static Tensor Read(Tensor cache, Tensor slots, long span) =>
        cache.index_select(0, slots).narrow(1, 0, span).transpose(1, 2);

    public (Tensor Keys, Tensor Values) Export(int slot, int length) =>
        (keys[slot].narrow(0, 0, length).transpose(0, 1).clone(), values[slot].narrow(0, 0, length).transpose(0, 1).clone());

    public void Import(int slot, Tensor k, Tensor v)
    {
        var length = k.shape[1];
        keys[slot].narrow(0, 0, length).copy_(k.transpose(0, 1));
        values[slot].narrow(0, 0, length).copy_(v.transpose(0, 1));
    }

    public void Dispose()
    {
        keys.Dispose();
        values.Dispose();
    }
}
