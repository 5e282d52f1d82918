using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using Silo.Options;

namespace Silo.Tests;

/// <summary>Samples published on one grain reach a subscriber, over memory streams and over Azure Queue streams (Azurite).</summary>
[Collection(AzuriteCollection.Name)]
public sealed class StreamTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData(StreamProvider.Memory)]
    [InlineData(StreamProvider.AzureQueue)]
    public async Task Published_items_reach_the_subscriber_in_order(StreamProvider provider)
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) => silo.AddActorsServices(SiloSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Streams:Provider"] = provider.ToString(),
            ["Streams:ConnectionString"] = azurite.Azurite.ConnectionString,
        }).Build())));
        await using var cluster = builder.Build();
        await cluster.DeployAsync();
        var stream = $"samples-{provider}";
        var consumer = cluster.Client.GetGrain<IStreamConsumerProbeGrain>("consumer");
        await consumer.Subscribe(stream);

        await cluster.Client.GetGrain<IStreamProducerProbeGrain>("producer").Publish(stream, [.. Enumerable.Range(1, 20)]);

        int[] received = [];
        for (var i = 0; i < 150 && received.Length < 20; i++)
        {
            await Task.Delay(100);
            received = await consumer.Received();
        }
        received.Should().Equal(Enumerable.Range(1, 20));
    }
}
