using System.Security.Cryptography;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Models;
using Grains.Storage;

namespace Grains.Tests;

/// <summary>A job's trained actor read out of the cluster for <c>actors export</c>.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ModelExportTests(ClusterFixture fixture)
{
    [Fact]
    public async Task The_latest_weights_come_out_in_chunks_byte_for_byte_and_a_version_not_kept_is_refused_naming_those_kept()
    {
        var grains = fixture.Cluster.Client;
        var (status, _) = await RlJobTests.Run(grains, RlJobTests.Tiny("export-source", iterations: 3));
        status.State.Should().Be(JobState.Completed, status.Message);
        var export = grains.GetGrain<IModelExportGrain>("export-source");

        var opened = await export.Open(null);
        using var read = new MemoryStream();
        for (long offset = 0; offset < opened.Length;) offset += await Chunk(await export.Read(offset, 1 << 20));
        async Task<int> Chunk(byte[] bytes)
        {
            await read.WriteAsync(bytes);
            return bytes.Length;
        }
        var stored = await new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20).GetAsync(new JobKeys("export-source").ActorWeights(3));
        var old = () => grains.GetGrain<IModelExportGrain>("export-source").Open(1);
        var none = () => grains.GetGrain<IModelExportGrain>("export-never-ran").Open(null);

        (opened.Version, opened.Model, opened.Length).Should().Be((3, RlSpec.DemoModel, stored!.Length));
        Convert.ToHexString(SHA256.HashData(read.ToArray())).Should().BeEquivalentTo(stored.Sha256);
        await old.Should().ThrowAsync<ArgumentException>().WithMessage("export: job 'export-source' has no weights of iteration 1 in the store; the versions kept are 2, 3");
        await none.Should().ThrowAsync<ArgumentException>().WithMessage("export: no job named 'export-never-ran'");
    }
}
