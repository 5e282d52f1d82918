using Grains.Interfaces.Cluster;

namespace Silo.Tests;

public sealed class DrainTests(PlacementFixture fixture) : IClassFixture<PlacementFixture>
{
    [Fact]
    public async Task A_drained_silo_lets_its_device_grains_go_and_takes_no_new_ones()
    {
        var grains = fixture.Cluster.Client;
        var trainer = grains.GetGrain<ITrainingProbeGrain>("drained");
        var silo = (await trainer.Device()).Silo;
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);

        var holders = await directory.Drain(silo);

        holders.Select(h => h.Holder).Should().ContainSingle().Which.Should().Contain("drained");
        (await directory.DrainedSilos()).Should().Equal(silo);
        for (var i = 0; i < 100 && (await directory.Leases()).Any(l => l.Silo == silo); i++) await Task.Delay(100);
        (await directory.Leases()).Should().NotContain(l => l.Silo == silo, "the vacated grain gave its device back");
        var again = () => trainer.Device();
        (await again.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("no free device for the 'training' role").And.Contain("drained");
        (await grains.GetGrain<IGenerationProbeGrain>("unaffected").Device()).Device.Should().StartWith("gpu:");
    }
}
