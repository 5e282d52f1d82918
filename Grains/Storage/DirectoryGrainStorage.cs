using Orleans.Serialization;
using Orleans.Storage;

namespace Grains.Storage;

/// <summary>
/// Grain state as files in a local directory (the embedded silo's ledger, and every silo of a cluster on
/// one machine): one file per grain and state name, written beside its place and renamed into it, so a
/// silo killed mid-write leaves the previous state whole. Writes are checked against the version read
/// (the file's write time), as Orleans' own providers check their ETags.
/// </summary>
public sealed class DirectoryGrainStorage(string root, Serializer serializer) : IGrainStorage
{
    private readonly string root = Path.GetFullPath(root);

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        if (!File.Exists(path))
        {
            (grainState.ETag, grainState.RecordExists) = (null, false);
            return;
        }
        var bytes = await File.ReadAllBytesAsync(path);
        try
        {
            grainState.State = serializer.Deserialize<T>(bytes);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"the ledger's state of {grainId} ({path}) does not read: {e.Message}", e);
        }
        (grainState.ETag, grainState.RecordExists) = (Version(path), true);
    }

    public async Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        Check(path, grainState.ETag, grainId);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var partial = $"{path}.{Guid.NewGuid():N}.partial";
        await File.WriteAllBytesAsync(partial, serializer.SerializeToArray(grainState.State));
        File.Move(partial, path, overwrite: true);
        (grainState.ETag, grainState.RecordExists) = (Version(path), true);
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        Check(path, grainState.ETag, grainId);
        File.Delete(path);
        (grainState.ETag, grainState.RecordExists) = (null, false);
        return Task.CompletedTask;
    }

    /// <summary>Another activation wrote since this one read: its write would be lost, so this one's is refused.</summary>
    private static void Check(string path, string? expected, GrainId grainId)
    {
        var actual = File.Exists(path) ? Version(path) : null;
        if (actual != expected) throw new InconsistentStateException($"the ledger's state of {grainId} changed since it was read", actual ?? "", expected ?? "");
    }

    private static string Version(string path) => File.GetLastWriteTimeUtc(path).Ticks.ToString();

    /// <summary>Grain ids hold '/' and other characters a file name cannot: the file is named by the escaped id.</summary>
    private string PathOf(string stateName, GrainId grainId) =>
        Path.Combine(root, Uri.EscapeDataString(stateName), Uri.EscapeDataString(grainId.Type.ToString()!), Uri.EscapeDataString(grainId.Key.ToString()!));
}
