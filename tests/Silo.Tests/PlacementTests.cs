using Grains.Interfaces.Cluster;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.TestingHost;
using Silo.Options;

namespace Silo.Tests;

/// <summary>Two silos with different metadata: a generation silo with two GPUs and a training silo with one; nobody serves inference.</summary>
public sealed class PlacementFixture : IAsyncLifetime
{
    public const string GenerationSilo = "gen-silo", TrainingSilo = "train-silo";

    public InProcessTestCluster Cluster { get; }

    public PlacementFixture()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) =>
        {
            var (name, roles, devices) = options.SiloName == "Silo_0"
                ? (GenerationSilo, SiloRoles.Generation, "gpu:0-1")
                : (TrainingSilo, SiloRoles.Training, "gpu:0");
            silo.AddActorsServices(SiloSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Silo:Name"] = name, ["Silo:Roles"] = roles, ["Silo:Devices"] = devices, ["Silo:DeviceClass"] = "H800",
            }).Build()));
        });
        Cluster = builder.Build();
    }

    public string AddressOf(string name) => Cluster.Silos[name == GenerationSilo ? 0 : 1].SiloAddress.ToParsableString();

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class PlacementTests(PlacementFixture fixture) : IClassFixture<PlacementFixture>
{
    private IGrainFactory Grains => fixture.Cluster.Client;

    [Fact]
    public async Task Device_grains_land_on_silos_of_their_role_one_per_device_and_stay()
    {
        var first = await Grains.GetGrain<IGenerationProbeGrain>("g1").Device();
        var second = await Grains.GetGrain<IGenerationProbeGrain>("g2").Device();
        var trainer = await Grains.GetGrain<ITrainingProbeGrain>("t1").Device();

        first.Silo.Should().Be(fixture.AddressOf(PlacementFixture.GenerationSilo));
        second.Silo.Should().Be(first.Silo);
        new[] { first.Device, second.Device }.Should().BeEquivalentTo(["gpu:0", "gpu:1"]);
        trainer.Silo.Should().Be(fixture.AddressOf(PlacementFixture.TrainingSilo));
        trainer.Device.Should().Be("gpu:0");
        (await Grains.GetGrain<IGenerationProbeGrain>("g1").Device()).Should().Be(first, "a device grain stays where it was placed");

        var third = () => Grains.GetGrain<IGenerationProbeGrain>("g3").Device();
        (await third.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("no free device for the 'generation' role");

        await Grains.GetGrain<IGenerationProbeGrain>("g1").Vacate();
        await WaitUntil(async () => (await Grains.GetGrain<IDeviceDirectoryGrain>(0).Leases()).All(l => !l.Holder.Contains("g1")));
        (await Grains.GetGrain<IGenerationProbeGrain>("g3").Device()).Device.Should().Be(first.Device, "a freed device goes to the next grain");
    }

    [Fact]
    public async Task A_role_no_silo_serves_fails_with_an_error_naming_it_and_what_each_silo_declares()
    {
        var act = () => Grains.GetGrain<IInferenceProbeGrain>("i1").Device();

        var error = (await act.Should().ThrowAsync<Exception>()).Which.ToString();
        error.Should().Contain("no live silo serves the 'inference' role (2 silos checked: ");
        error.Should().Contain($"{fixture.AddressOf(PlacementFixture.GenerationSilo)}: roles generation, devices gpu:0-1")
            .And.Contain($"{fixture.AddressOf(PlacementFixture.TrainingSilo)}: roles training, devices gpu:0");
    }

    [Fact]
    public void A_silo_caches_a_bounded_number_of_grain_addresses_well_below_orleans_default()
    {
        foreach (var silo in fixture.Cluster.Silos)
        {
            var cache = silo.ServiceProvider.GetRequiredService<IOptions<GrainDirectoryOptions>>().Value;
            cache.CacheSize.Should().Be(SiloHosting.DirectoryCacheSize);
            cache.CacheSize.Should().BeLessThan(GrainDirectoryOptions.DEFAULT_CACHE_SIZE / 10, "a job's new sample grains every step would fill a million entries");
        }
    }

    private static async Task WaitUntil(Func<Task<bool>> condition)
    {
        for (var i = 0; i < 100 && !await condition(); i++) await Task.Delay(100);
    }
}
