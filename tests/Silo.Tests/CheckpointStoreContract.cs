using System.Security.Cryptography;
using Grains.Storage;

namespace Silo.Tests;

/// <summary>What every checkpoint store must do; each implementation runs these same tests.</summary>
public abstract class CheckpointStoreContract
{
    protected const int ChunkBytes = 64 * 1024;

    protected abstract ICheckpointStore Store { get; }

    /// <summary>Changes one byte of the stored object behind the store's back.</summary>
    protected abstract Task CorruptAsync(string name);

    private static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public async Task Writes_in_chunks_and_reads_back_byte_for_byte_with_the_hash()
    {
        var content = Bytes(5 * ChunkBytes + 123, 1);

        var written = await Store.WriteAsync("job-a/step-000001/model.safetensors", new MemoryStream(content));
        var copy = new MemoryStream();
        var read = await Store.ReadAsync("job-a/step-000001/model.safetensors", copy);

        copy.ToArray().Should().Equal(content);
        written.Should().Be(read);
        written.Length.Should().Be(content.Length);
        written.Sha256.Should().Be(Convert.ToHexStringLower(SHA256.HashData(content)));
        (await Store.GetAsync("job-a/step-000001/model.safetensors")).Should().Be(written);
    }

    [Fact]
    public async Task Empty_and_exact_chunk_multiples_round_trip()
    {
        foreach (var length in new[] { 0, ChunkBytes, 2 * ChunkBytes })
        {
            var content = Bytes(length, length);
            await Store.WriteAsync($"sizes/{length}", new MemoryStream(content));
            var copy = new MemoryStream();
            await Store.ReadAsync($"sizes/{length}", copy);
            copy.ToArray().Should().Equal(content, $"{length} bytes");
        }
    }

    [Fact]
    public async Task A_write_interrupted_half_way_is_never_read_and_the_previous_version_stays_latest()
    {
        var first = Bytes(3 * ChunkBytes, 2);
        await Store.WriteAsync("job-b/step-000001", new MemoryStream(first));
        await Store.WriteAsync("job-b/step-000002", new MemoryStream(Bytes(100, 3)));

        var crash = () => Store.WriteAsync("job-b/step-000003", new FailingStream(Bytes(4 * ChunkBytes, 4), failAfter: 2 * ChunkBytes + 10));
        var overwrite = () => Store.WriteAsync("job-b/step-000001", new FailingStream(Bytes(4 * ChunkBytes, 5), failAfter: ChunkBytes));
        await crash.Should().ThrowAsync<IOException>();
        await overwrite.Should().ThrowAsync<IOException>();

        (await Store.GetAsync("job-b/step-000003")).Should().BeNull();
        (await Store.ListAsync("job-b/")).Select(o => o.Name).Should().Equal("job-b/step-000001", "job-b/step-000002");
        (await Store.LatestAsync("job-b/"))!.Name.Should().Be("job-b/step-000002");
        var copy = new MemoryStream();
        await Store.ReadAsync("job-b/step-000001", copy);
        copy.ToArray().Should().Equal(first, "the failed overwrite left the earlier version whole");
    }

    [Fact]
    public async Task A_corrupted_object_is_detected_by_its_hash()
    {
        await Store.WriteAsync("job-c/weights", new MemoryStream(Bytes(2 * ChunkBytes + 7, 6)));
        await CorruptAsync("job-c/weights");

        var act = () => Store.ReadAsync("job-c/weights", new MemoryStream());

        await act.Should().ThrowAsync<InvalidDataException>().WithMessage("*'job-c/weights' is corrupt*");
    }

    [Fact]
    public async Task Replacing_listing_deleting_and_bad_names()
    {
        await Store.WriteAsync("job-d/a", new MemoryStream(Bytes(10, 7)));
        var replaced = await Store.WriteAsync("job-d/a", new MemoryStream(Bytes(20, 8)));
        await Store.WriteAsync("job-d/b", new MemoryStream(Bytes(30, 9)));

        (await Store.ListAsync("job-d/")).Should().Equal(replaced, (await Store.GetAsync("job-d/b"))!);
        await Store.DeleteAsync("job-d/a");
        (await Store.GetAsync("job-d/a")).Should().BeNull();
        (await Store.ListAsync("job-d/")).Select(o => o.Name).Should().Equal("job-d/b");
        var missing = () => Store.ReadAsync("job-d/a", new MemoryStream());
        await missing.Should().ThrowAsync<FileNotFoundException>().WithMessage("*'job-d/a'*");
        var bad = () => Store.WriteAsync("../escape", new MemoryStream());
        await bad.Should().ThrowAsync<ArgumentException>().WithMessage("*'../escape' is not a valid object name*");
    }

    /// <summary>A source that fails part-way, as a crashing writer would.</summary>
    private sealed class FailingStream(byte[] content, int failAfter) : MemoryStream(content)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (Position >= failAfter) throw new IOException("the writer crashed");
            return base.ReadAsync(buffer[..(int)Math.Min(buffer.Length, failAfter - Position)], cancellationToken);
        }
    }
}

public sealed class LocalCheckpointStoreTests : CheckpointStoreContract, IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("actors-store-").FullName;

    public LocalCheckpointStoreTests() => Store = new LocalCheckpointStore(directory, ChunkBytes);

    protected override ICheckpointStore Store { get; }

    protected override Task CorruptAsync(string name)
    {
        var data = Directory.GetFiles(Path.Combine(directory, Path.GetDirectoryName(name)!), "*.data").Single();
        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0xFF;
        File.WriteAllBytes(data, bytes);
        return Task.CompletedTask;
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);
}

[Collection(AzuriteCollection.Name)]
public sealed class BlobCheckpointStoreTests(AzuriteFixture fixture) : CheckpointStoreContract
{
    private readonly Azure.Storage.Blobs.BlobContainerClient container = new(fixture.Azurite.ConnectionString, $"store-{Guid.NewGuid():N}");

    protected override ICheckpointStore Store => new BlobCheckpointStore(container, ChunkBytes);

    protected override async Task CorruptAsync(string name)
    {
        // Rewrite the content through the plain blob API, keeping the metadata the store recorded.
        var blob = container.GetBlobClient(name);
        var metadata = (await blob.GetPropertiesAsync()).Value.Metadata;
        var bytes = (await blob.DownloadContentAsync()).Value.Content.ToArray();
        bytes[bytes.Length / 2] ^= 0xFF;
        await blob.UploadAsync(new BinaryData(bytes), overwrite: true);
        await blob.SetMetadataAsync(metadata);
    }
}
