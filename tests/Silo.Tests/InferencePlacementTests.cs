using Grains.Interfaces.Cluster;
using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using Silo.Options;

namespace Silo.Tests;

public sealed class InferenceFixture : IAsyncLifetime
{
    public InProcessTestCluster Cluster { get; }

    public InferenceFixture()
    {
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((options, silo) => silo.AddActorsServices(SiloSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Silo:Name"] = options.SiloName == "Silo_0" ? "gen" : "infer",
            ["Silo:Roles"] = options.SiloName == "Silo_0" ? SiloRoles.Generation : SiloRoles.Inference,
        }).Build())));
        Cluster = builder.Build();
    }

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class InferencePlacementTests(InferenceFixture fixture) : IClassFixture<InferenceFixture>
{
    [Fact]
    public async Task Stateless_scoring_workers_activate_only_on_inference_silos_even_when_called_from_elsewhere()
    {
        var (caller, scorer) = await fixture.Cluster.Client.GetGrain<IScoringCallerGrain>("caller").CallScoring();

        caller.Should().Be(fixture.Cluster.Silos[0].SiloAddress.ToParsableString(), "the caller is a generation grain");
        scorer.Should().Be(fixture.Cluster.Silos[1].SiloAddress.ToParsableString(), "scoring runs where inference is served");
    }
}

public sealed class MissingInferenceTests(PlacementFixture fixture) : IClassFixture<PlacementFixture>
{
    [Fact]
    public async Task Without_an_inference_silo_a_scoring_worker_fails_with_an_error_naming_the_role()
    {
        var act = () => fixture.Cluster.Client.GetGrain<IScoringProbeGrain>(0).Silo();

        (await act.Should().ThrowAsync<Exception>()).Which.ToString().Should().Contain("no live silo serves the 'inference' role");
    }
}
