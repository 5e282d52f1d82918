using System.Text;
using Azure;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Models;
using Azure.Storage.Blobs.Specialized;

namespace Grains.Storage;

/// <summary>
/// Objects as Azure block blobs. Chunks are staged as uncommitted blocks and the block list is committed
/// last with the length and SHA-256 in the blob's metadata: until that commit nothing is visible, and
/// a commit replaces an earlier version atomically.
/// </summary>
public sealed class BlobCheckpointStore(BlobContainerClient container, int chunkBytes) : ICheckpointStore
{
    private const string ShaKey = "sha256", LengthKey = "length";
    private bool created;

    public async Task<StoredObject> WriteAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        await EnsureContainer(cancellationToken);
        var blob = container.GetBlockBlobClient(CheckpointStoreExtensions.CheckName(name));
        // Block ids unique to this write, so a concurrent or abandoned write never mixes its blocks in.
        var writeId = Guid.NewGuid().ToString("N")[..12];
        var blocks = new List<string>();
        var (length, sha) = await ChunkedCopy.CopyAsync(content, chunkBytes, async (chunk, index) =>
        {
            var id = Convert.ToBase64String(Encoding.ASCII.GetBytes($"{writeId}-{index:D8}"));
            using var stream = new MemoryStream(chunk.ToArray(), writable: false);
            await blob.StageBlockAsync(id, stream, cancellationToken: cancellationToken);
            blocks.Add(id);
        }, cancellationToken);
        await blob.CommitBlockListAsync(blocks, new CommitBlockListOptions
        {
            Metadata = new Dictionary<string, string> { [ShaKey] = sha, [LengthKey] = length.ToString() },
        }, cancellationToken);
        return new StoredObject(name, length, sha);
    }

    public async Task<StoredObject> ReadAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        var blob = container.GetBlobClient(CheckpointStoreExtensions.CheckName(name));
        try
        {
            var download = await blob.DownloadStreamingAsync(cancellationToken: cancellationToken);
            await using var stream = download.Value.Content;
            var recorded = download.Value.Details.Metadata.TryGetValue(ShaKey, out var s) ? s : "(none)";
            var (length, sha) = await ChunkedCopy.CopyAsync(stream, chunkBytes, (chunk, _) => destination.WriteAsync(chunk, cancellationToken).AsTask(), cancellationToken);
            if (sha != recorded) throw ChunkedCopy.Corrupt(name, recorded, sha);
            return new StoredObject(name, length, sha);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            throw new FileNotFoundException($"no object '{name}' in container {container.Name}", e);
        }
    }

    public async Task<StoredObject?> GetAsync(string name, CancellationToken cancellationToken = default)
    {
        try
        {
            var properties = await container.GetBlobClient(CheckpointStoreExtensions.CheckName(name)).GetPropertiesAsync(cancellationToken: cancellationToken);
            return Describe(name, properties.Value.Metadata);
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return null;
        }
    }

    public async Task<IReadOnlyList<StoredObject>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        var found = new List<StoredObject>();
        try
        {
            await foreach (var item in container.GetBlobsAsync(BlobTraits.Metadata, BlobStates.None, prefix, cancellationToken))
            {
                if (Describe(item.Name, item.Metadata) is { } described) found.Add(described);
            }
        }
        catch (RequestFailedException e) when (e.Status == 404)
        {
            return [];
        }
        return [.. found.OrderBy(o => o.Name, StringComparer.Ordinal)];
    }

    public async Task DeleteAsync(string name, CancellationToken cancellationToken = default) =>
        await container.GetBlobClient(CheckpointStoreExtensions.CheckName(name)).DeleteIfExistsAsync(cancellationToken: cancellationToken);

    /// <summary>Only blobs committed by this store (with a recorded hash) count as objects.</summary>
    private static StoredObject? Describe(string name, IDictionary<string, string> metadata) =>
        metadata.TryGetValue(ShaKey, out var sha) && metadata.TryGetValue(LengthKey, out var length) ? new StoredObject(name, long.Parse(length), sha) : null;

    private async Task EnsureContainer(CancellationToken cancellationToken)
    {
        if (created) return;
        await container.CreateIfNotExistsAsync(cancellationToken: cancellationToken);
        created = true;
    }
}
