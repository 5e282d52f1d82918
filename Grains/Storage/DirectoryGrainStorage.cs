using System.Collections.Concurrent;
using Orleans.Serialization;
using Orleans.Storage;

namespace Grains.Storage;

/// <summary>
/// Grain state as files in a local directory (the embedded silo's ledger, and every silo of a cluster on
/// one machine): one file per grain and state name, written beside its place and renamed into it, so a
/// silo killed mid-write leaves the previous state whole. One activation per grain is Orleans' promise;
/// the ETag only tells a written state from none.
/// </summary>
public sealed class DirectoryGrainStorage(string root, Serializer serializer) : IGrainStorage
{
    private readonly string root = Path.GetFullPath(root);
    // Directories known to exist: a write costs a file and a rename, not a directory check too.
    private readonly ConcurrentDictionary<string, bool> directories = new();

    public async Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        byte[]? bytes = null;
        // Most reads are of a state never written (every new sample): asked first, not learnt from an
        // exception, which a busy silo threw over a thousand times a second. The catch is for a state
        // removed between the question and the read.
        if (File.Exists(path))
        {
            try
            {
                bytes = await File.ReadAllBytesAsync(path);
            }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
            }
        }
        if (bytes is null)
        {
            (grainState.ETag, grainState.RecordExists) = (null, false);
            return;
        }
        try
        {
            grainState.State = serializer.Deserialize<T>(bytes);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            throw new InvalidDataException($"the ledger's state of {grainId} ({path}) does not read: {e.Message}", e);
        }
        (grainState.ETag, grainState.RecordExists) = ("written", true);
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var path = PathOf(stateName, grainId);
        var directory = Path.GetDirectoryName(path)!;
        if (!directories.ContainsKey(directory))
        {
            Directory.CreateDirectory(directory);
            directories[directory] = true;
        }
        var partial = $"{path}.{Environment.ProcessId}.{Environment.CurrentManagedThreadId}.partial";
        // Records are small: a synchronous write costs less than an asynchronous one's hand-offs.
        File.WriteAllBytes(partial, serializer.SerializeToArray(grainState.State));
        File.Move(partial, path, overwrite: true);
        (grainState.ETag, grainState.RecordExists) = ("written", true);
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        File.Delete(PathOf(stateName, grainId));
        // As Orleans' own providers do: a cleared state is a fresh one.
        (grainState.State, grainState.ETag, grainState.RecordExists) = (Activator.CreateInstance<T>(), null, false);
        return Task.CompletedTask;
    }

    /// <summary>Grain ids hold '/' and other characters a file name cannot: the file is named by the escaped id.</summary>
    private string PathOf(string stateName, GrainId grainId) =>
        Path.Combine(root, Uri.EscapeDataString(stateName), Uri.EscapeDataString(grainId.Type.ToString()!), Uri.EscapeDataString(grainId.Key.ToString()!));
}
