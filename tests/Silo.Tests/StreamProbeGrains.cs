using Grains.Interfaces.Cluster;
using Orleans.Streams;
using Silo.Options;

namespace Silo.Tests;

// A producer and a consumer of the silos' "samples" stream provider, whichever queue backs it.
public interface IStreamProducerProbeGrain : IGrainWithStringKey
{
    Task Publish(string stream, int[] items);
}

public interface IStreamConsumerProbeGrain : IGrainWithStringKey
{
    Task Subscribe(string stream);
    Task<int[]> Received();
}

public sealed class StreamProducerProbeGrain : Grain, IStreamProducerProbeGrain
{
    public async Task Publish(string stream, int[] items)
    {
        var target = this.GetStreamProvider(StreamsOptions.ProviderName).GetStream<int>(StreamId.Create("probe", stream));
        foreach (var item in items) await target.OnNextAsync(item);
    }
}

public sealed class StreamConsumerProbeGrain : Grain, IStreamConsumerProbeGrain
{
    private readonly List<int> received = [];

    public async Task Subscribe(string stream)
    {
        var source = this.GetStreamProvider(StreamsOptions.ProviderName).GetStream<int>(StreamId.Create("probe", stream));
        await source.SubscribeAsync((item, _) =>
        {
            received.Add(item);
            return Task.CompletedTask;
        });
    }

    public Task<int[]> Received() => Task.FromResult(received.ToArray());
}
