namespace Grains.Interfaces.Rl;

/// <summary>
/// A datacenter's copy of a job's weights versions (key: "{datacenter}/{the weights' folder in the store}"),
/// for a datacenter other than the checkpoint store's: each version crosses the inter-datacenter link once,
/// into this grain, and the silos of its datacenter read it from here (StreamRL's cross-datacenter path).
/// It holds the last few versions; read in chunks, as every large object moves.
/// </summary>
public interface IWeightsRelayGrain : IGrainWithStringKey
{
    /// <summary>
    /// Up to <paramref name="most"/> bytes of the version from <paramref name="offset"/>. The call that made
    /// this relay read the version from the store gets that transfer in its <see cref="WeightsChunk.Hops"/>
    /// (so each transfer is counted once, by whoever caused it).
    /// </summary>
    Task<WeightsChunk> Read(WeightsRef weights, long offset, int most);
}

[GenerateSerializer, Immutable]
public sealed record WeightsChunk([property: Id(0)] byte[] Bytes, [property: Id(1)] long Length, [property: Id(2)] WeightHop[] Hops);

/// <summary>One copy of a weights version over the link from datacenter <paramref name="From"/> to <paramref name="To"/>.</summary>
[GenerateSerializer, Immutable]
public sealed record WeightHop([property: Id(0)] string From, [property: Id(1)] string To, [property: Id(2)] long Bytes)
{
    /// <summary>The link's name in metrics: "from->to".</summary>
    public string Link => $"{From}->{To}";
}
