using Microsoft.Extensions.DependencyInjection;
using Orleans.TestingHost;

namespace Grains.Tests;

/// <summary>An in-process Orleans test cluster shared by the tests of one collection.</summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    /// <summary>Each fixture's checkpoints go to a fresh directory, removed afterwards.</summary>
    public static readonly string CheckpointDirectory = Path.Combine(Path.GetTempPath(), $"actors-grains-tests-{Environment.ProcessId}");

    public TestCluster Cluster { get; } = new TestClusterBuilder(1).AddSiloBuilderConfigurator<Configurator>().Build();

    public Task InitializeAsync() => Cluster.DeployAsync();

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        if (Directory.Exists(CheckpointDirectory)) Directory.Delete(CheckpointDirectory, recursive: true);
    }

    private sealed class Configurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder siloBuilder) =>
            siloBuilder.Services.Configure<CheckpointOptions>(o => o.Directory = CheckpointDirectory);
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
