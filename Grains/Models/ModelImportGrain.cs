using Grains.Interfaces.Models;
using Grains.Storage;

namespace Grains.Models;

/// <summary>Gathers an imported model's chunks, then writes them to the store as one object.</summary>
public sealed class ModelImportGrain(ICheckpointStore store) : Grain, IModelImportGrain
{
    private readonly MemoryStream received = new();

    public Task Append(long offset, byte[] chunk)
    {
        if (offset + chunk.Length <= received.Length) return Task.CompletedTask;
        if (offset != received.Length) throw new ArgumentException($"import of '{this.GetPrimaryKeyString()}': a chunk at {offset}, but {received.Length} bytes have come");
        received.Write(chunk);
        return Task.CompletedTask;
    }

    public async Task<string> Commit(long length)
    {
        if (received.Length != length) throw new ArgumentException($"import of '{this.GetPrimaryKeyString()}': {received.Length} of {length} bytes have come");
        received.Position = 0;
        var written = await store.WriteAsync(CheckpointStoreExtensions.CheckName(this.GetPrimaryKeyString()), received);
        this.DeactivateOnIdle();
        return written.Sha256;
    }
}
