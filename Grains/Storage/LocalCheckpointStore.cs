using System.Text.Json;

namespace Grains.Storage;

/// <summary>
/// Objects in a local directory. Each object is a data file plus a small manifest (length, hash, data
/// file) that is renamed into place last: the manifest's presence is what makes the object exist.
/// </summary>
public sealed class LocalCheckpointStore(string root, int chunkBytes) : ICheckpointStore
{
    private const string ManifestSuffix = ".manifest.json";
    private readonly string root = Path.GetFullPath(root);

    private sealed record Manifest(string Name, long Length, string Sha256, string DataFile);

    public async Task<StoredObject> WriteAsync(string name, Stream content, CancellationToken cancellationToken = default)
    {
        var manifestPath = ManifestPath(CheckpointStoreExtensions.CheckName(name));
        Directory.CreateDirectory(Path.GetDirectoryName(manifestPath)!);
        var dataFile = $"{Path.GetFileName(name)}.{Guid.NewGuid():N}.data";
        var dataPath = Path.Combine(Path.GetDirectoryName(manifestPath)!, dataFile);
        try
        {
            long length;
            string sha;
            await using (var data = new FileStream(dataPath, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, useAsync: true))
            {
                (length, sha) = await ChunkedCopy.CopyAsync(content, chunkBytes, (chunk, _) => data.WriteAsync(chunk, cancellationToken).AsTask(), cancellationToken);
                await data.FlushAsync(cancellationToken);
                data.Flush(flushToDisk: true);
            }
            var previous = await ReadManifest(manifestPath, cancellationToken);
            var temporary = manifestPath + ".partial";
            await File.WriteAllTextAsync(temporary, JsonSerializer.Serialize(new Manifest(name, length, sha, dataFile)), cancellationToken);
            File.Move(temporary, manifestPath, overwrite: true);
            if (previous is not null) File.Delete(Path.Combine(Path.GetDirectoryName(manifestPath)!, previous.DataFile));
            return new StoredObject(name, length, sha);
        }
        catch
        {
            File.Delete(dataPath);
            throw;
        }
    }

    public async Task<StoredObject> ReadAsync(string name, Stream destination, CancellationToken cancellationToken = default)
    {
        var manifestPath = ManifestPath(CheckpointStoreExtensions.CheckName(name));
        var manifest = await ReadManifest(manifestPath, cancellationToken) ?? throw new FileNotFoundException($"no object '{name}' in {root}");
        await using var data = new FileStream(Path.Combine(Path.GetDirectoryName(manifestPath)!, manifest.DataFile), FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, useAsync: true);
        var (length, sha) = await ChunkedCopy.CopyAsync(data, chunkBytes, (chunk, _) => destination.WriteAsync(chunk, cancellationToken).AsTask(), cancellationToken);
        if (sha != manifest.Sha256 || length != manifest.Length) throw ChunkedCopy.Corrupt(name, manifest.Sha256, sha);
        return new StoredObject(name, length, sha);
    }

    public async Task<StoredObject?> GetAsync(string name, CancellationToken cancellationToken = default) =>
        await ReadManifest(ManifestPath(CheckpointStoreExtensions.CheckName(name)), cancellationToken) is { } m ? new StoredObject(m.Name, m.Length, m.Sha256) : null;

    public async Task<IReadOnlyList<StoredObject>> ListAsync(string prefix, CancellationToken cancellationToken = default)
    {
        if (!Directory.Exists(root)) return [];
        var found = new List<StoredObject>();
        foreach (var path in Directory.EnumerateFiles(root, "*" + ManifestSuffix, SearchOption.AllDirectories))
        {
            var name = Path.GetRelativePath(root, path)[..^ManifestSuffix.Length].Replace(Path.DirectorySeparatorChar, '/');
            if (name.StartsWith(prefix, StringComparison.Ordinal) && await ReadManifest(path, cancellationToken) is { } m)
            {
                found.Add(new StoredObject(name, m.Length, m.Sha256));
            }
        }
        return [.. found.OrderBy(o => o.Name, StringComparer.Ordinal)];
    }

    public async Task DeleteAsync(string name, CancellationToken cancellationToken = default)
    {
        var manifestPath = ManifestPath(CheckpointStoreExtensions.CheckName(name));
        if (await ReadManifest(manifestPath, cancellationToken) is not { } manifest) return;
        File.Delete(manifestPath);
        File.Delete(Path.Combine(Path.GetDirectoryName(manifestPath)!, manifest.DataFile));
    }

    private string ManifestPath(string name) => Path.Combine(root, name.Replace('/', Path.DirectorySeparatorChar)) + ManifestSuffix;

    private static async Task<Manifest?> ReadManifest(string path, CancellationToken cancellationToken) =>
        File.Exists(path) ? JsonSerializer.Deserialize<Manifest>(await File.ReadAllTextAsync(path, cancellationToken)) : null;
}
