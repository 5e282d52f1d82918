using System.Buffers.Binary;
using static TorchSharp.torch;

namespace Kernels.Pipeline;

/// <summary>How a tensor travels between processes: full fp32, or bf16 at half the bytes.</summary>
public enum WireFormat : byte
{
    Float32 = 1,
    BFloat16 = 2,
}

/// <summary>
/// Activations, gradients and cache entries as compact byte buffers that cross process boundaries:
/// a format byte, the rank, each dimension (int64 little-endian), then the raw little-endian data.
/// Decoding always yields float32; a bf16 buffer loses precision once, on the way out.
/// </summary>
public static class TensorCodec
{
    public static byte[] Encode(Tensor tensor, WireFormat format = WireFormat.Float32)
    {
        using var scope = NewDisposeScope();
        var wire = tensor.detach().cpu().to(format == WireFormat.BFloat16 ? bfloat16 : float32).contiguous();
        var data = wire.bytes;
        var headerLength = 2 + 8 * wire.shape.Length;
        var buffer = new byte[headerLength + data.Length];
        buffer[0] = (byte)format;
        buffer[1] = (byte)wire.shape.Length;
        for (var i = 0; i < wire.shape.Length; i++)
        {
            BinaryPrimitives.WriteInt64LittleEndian(buffer.AsSpan(2 + 8 * i), wire.shape[i]);
        }
        data.CopyTo(buffer.AsSpan(headerLength));
        return buffer;
    }

    public static Tensor Decode(ReadOnlySpan<byte> buffer)
    {
        if (buffer.Length < 2 || buffer[0] is not ((byte)WireFormat.Float32 or (byte)WireFormat.BFloat16))
        {
            throw new InvalidDataException("not a tensor buffer: unknown format byte");
        }
        var format = (WireFormat)buffer[0];
        var rank = buffer[1];
        var headerLength = 2 + 8 * rank;
        if (buffer.Length < headerLength) throw new InvalidDataException($"tensor buffer of {buffer.Length} bytes is shorter than its header");
        var shape = new long[rank];
        for (var i = 0; i < rank; i++) shape[i] = BinaryPrimitives.ReadInt64LittleEndian(buffer[(2 + 8 * i)..]);
        var elementBytes = format == WireFormat.BFloat16 ? 2 : 4;
        var expected = shape.Aggregate(1L, (a, d) => a * d) * elementBytes;
        if (buffer.Length - headerLength != expected)
        {
            throw new InvalidDataException($"tensor buffer holds {buffer.Length - headerLength} data bytes, shape [{string.Join(", ", shape)}] needs {expected}");
        }
        var tensor = empty(shape, format == WireFormat.BFloat16 ? bfloat16 : float32);
        tensor.bytes = buffer[headerLength..].ToArray();
        return format == WireFormat.BFloat16 ? tensor.to(float32) : tensor;
    }
}
