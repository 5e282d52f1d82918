using System.Security.Cryptography;

namespace Grains.Storage;

/// <summary>Moves a stream chunk by chunk through a sink while hashing it: one buffer of the chunk size, never the whole object.</summary>
internal static class ChunkedCopy
{
    public static async Task<(long Length, string Sha256)> CopyAsync(Stream source, int chunkBytes, Func<ReadOnlyMemory<byte>, int, Task> sink, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = new byte[chunkBytes];
        long length = 0;
        var index = 0;
        while (true)
        {
            var filled = 0;
            while (filled < buffer.Length)
            {
                var read = await source.ReadAsync(buffer.AsMemory(filled), cancellationToken);
                if (read == 0) break;
                filled += read;
            }
            if (filled == 0) break;
            hash.AppendData(buffer, 0, filled);
            await sink(buffer.AsMemory(0, filled), index++);
            length += filled;
            if (filled < buffer.Length) break;
        }
        return (length, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }

    public static InvalidDataException Corrupt(string name, string expected, string actual) =>
        new($"object '{name}' is corrupt: its content hashes to {actual}, but {expected} was recorded when it was written");
}
