using Microsoft.Extensions.Configuration;
using Orleans.TestingHost;
using Silo;
using Silo.Options;

namespace Grains.Tests;

/// <summary>An in-process Orleans test cluster, configured as a silo of this system is, shared by a collection.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    /// <summary>Each fixture's checkpoints go to a fresh directory, removed afterwards.</summary>
    public static readonly string CheckpointDirectory = Path.Combine(Path.GetTempPath(), $"actors-grains-tests-{Environment.ProcessId}");

    /// <summary>The silo's Prometheus endpoint's port (a free one).</summary>
    public static readonly int MetricsPort = Testing.ChildProcess.FreePort();

    public TestCluster Cluster { get; } = new TestClusterBuilder(1).AddSiloBuilderConfigurator<Configurator>().Build();


    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        if (Directory.Exists(CheckpointDirectory)) Directory.Delete(CheckpointDirectory, recursive: true);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) => siloBuilder.AddActorsServices(SiloSettings.Load(new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Silo:Devices"] = "cpu:0-63",
                ["Checkpoints:Directory"] = CheckpointDirectory,
                ["Metrics:PrometheusEnabled"] = "true",
                ["Metrics:PrometheusPort"] = MetricsPort.ToString(),
            }).Build()));
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
