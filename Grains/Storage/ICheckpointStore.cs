namespace Grains.Storage;

/// <summary>A complete stored object: its name, size and SHA-256 (lowercase hex).</summary>
[GenerateSerializer, Immutable]
public sealed record StoredObject(string Name, long Length, string Sha256);

/// <summary>
/// Where checkpoints and weights live. Objects move in chunks (never as one huge array or message),
/// carry a SHA-256 checked on every read, and become visible only once completely written: a write
/// that fails half-way leaves the previous version (or nothing) in place.
/// </summary>
public interface ICheckpointStore
{
    /// <summary>Writes <paramref name="content"/> under <paramref name="name"/> (replacing an earlier version atomically).</summary>
    Task<StoredObject> WriteAsync(string name, Stream content, CancellationToken cancellationToken = default);

    /// <summary>Copies the object into <paramref name="destination"/>, then checks its hash; throws <see cref="InvalidDataException"/> when it does not match.</summary>
    Task<StoredObject> ReadAsync(string name, Stream destination, CancellationToken cancellationToken = default);

    /// <summary>The object's description, or null when there is no complete object of that name.</summary>
    Task<StoredObject?> GetAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Complete objects whose names start with <paramref name="prefix"/>, in name order.</summary>
    Task<IReadOnlyList<StoredObject>> ListAsync(string prefix, CancellationToken cancellationToken = default);

    Task DeleteAsync(string name, CancellationToken cancellationToken = default);
}

public static class CheckpointStoreExtensions
{
    /// <summary>The last complete object under <paramref name="prefix"/> in name order (checkpoint names carry zero-padded steps).</summary>
    public static async Task<StoredObject?> LatestAsync(this ICheckpointStore store, string prefix, CancellationToken cancellationToken = default) =>
        (await store.ListAsync(prefix, cancellationToken)).LastOrDefault();

    /// <summary>Object names are '/'-separated segments of letters, digits, '.', '_' and '-'.</summary>
    public static string CheckName(string name)
    {
        var segments = name.Split('/');
        if (name.Length == 0 || name.Length > 512 || segments.Any(s => s.Length == 0 || s == "." || s == ".." || !s.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')))
        {
            throw new ArgumentException($"'{name}' is not a valid object name ('/'-separated segments of letters, digits, '.', '_', '-')", nameof(name));
        }
        return name;
    }
}
