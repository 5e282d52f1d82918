namespace Grains.Storage;

/// <summary>
/// A large object crossing grain calls in chunks (weights to a datacenter's silos, to an exporting client):
/// the slice a call answers with, and the whole object gathered from such calls.
/// </summary>
public static class GrainChunks
{
    /// <summary>Up to <paramref name="most"/> bytes of <paramref name="bytes"/> from <paramref name="offset"/> (none past the end).</summary>
    public static byte[] Slice(byte[] bytes, long offset, int most) => bytes.AsSpan((int)Math.Min(offset, bytes.Length), (int)Math.Clamp(bytes.Length - offset, 0, most)).ToArray();

    /// <summary>The <paramref name="length"/> bytes of <paramref name="name"/>, asked for from each offset in turn until all have come.</summary>
    public static async Task<byte[]> Gather(string name, long length, Func<long, Task<byte[]>> read, byte[]? first = null)
    {
        var bytes = new byte[length];
        first?.CopyTo(bytes, 0);
        for (long offset = first?.Length ?? 0; offset < length;)
        {
            var chunk = await read(offset);
            if (chunk.Length == 0) throw new InvalidDataException($"{name} ended at {offset} of {length} bytes");
            chunk.CopyTo(bytes, offset);
            offset += chunk.Length;
        }
        return bytes;
    }
}
