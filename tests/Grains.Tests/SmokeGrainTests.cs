using System.Security.Cryptography;
using Grains.Interfaces.Smoke;
using Grains.Storage;

namespace Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class SmokeGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Smoke_grain_trains_and_writes_a_checkpoint_that_reloads_exactly()
    {
        var grain = fixture.Cluster.GrainFactory.GetGrain<ISmokeGrain>("trains");

        var report = await grain.Run(new SmokeRequest(Steps: 50, Seed: 3));

        report.Steps.Should().Be(50);
        report.Device.Should().StartWith("cpu:", "a smoke grain owns a training device");
        report.Parameters.Should().Be(8 * 32 + 32 + 32 * 1 + 1, "an 8-32-1 MLP with biases");
        report.FirstGradientNorm.Should().BePositive();
        report.FinalLoss.Should().BeLessThan(report.InitialLoss);
        report.ReloadMaxDifference.Should().Be(0);
        report.CheckpointPath.Should().Be("smoke/trains/model.safetensors");
        var copy = new MemoryStream();
        await new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20).ReadAsync(report.CheckpointPath, copy);
        copy.Length.Should().Be(report.CheckpointBytes);
        Convert.ToHexStringLower(SHA256.HashData(copy.ToArray())).Should().Be(report.CheckpointSha256);
    }

    [Fact]
    public async Task Same_seed_gives_the_same_run()
    {
        var first = await fixture.Cluster.GrainFactory.GetGrain<ISmokeGrain>("seeded-a").Run(new SmokeRequest(20, 11));
        var second = await fixture.Cluster.GrainFactory.GetGrain<ISmokeGrain>("seeded-b").Run(new SmokeRequest(20, 11));

        second.FinalLoss.Should().Be(first.FinalLoss);
        second.CheckpointSha256.Should().Be(first.CheckpointSha256);
    }

    [Fact]
    public async Task A_bad_step_count_is_rejected_with_its_name()
    {
        var grain = fixture.Cluster.GrainFactory.GetGrain<ISmokeGrain>("bad");

        var act = () => grain.Run(new SmokeRequest(Steps: 0, Seed: 1));

        (await act.Should().ThrowAsync<ArgumentOutOfRangeException>()).WithMessage("*Steps*");
    }
}
