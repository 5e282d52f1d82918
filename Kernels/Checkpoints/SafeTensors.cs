using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Checkpoints;

/// <summary>
/// The safetensors file format: an 8-byte little-endian header length, a JSON header that maps each
/// tensor name to its dtype, shape and [begin, end) byte offsets into the data, then the raw
/// little-endian data. Files written here load in the Hugging Face ecosystem and the other way round.
/// </summary>
public static class SafeTensors
{
    private const string MetadataKey = "__metadata__";
    // Refuse absurd headers before allocating for them: a corrupt length field must not cost gigabytes.
    private const long MaxHeaderBytes = 100L * 1024 * 1024;
    private const int CopyBufferBytes = 1 << 20;

    private static readonly Dictionary<ScalarType, string> DtypeNames = new()
    {
        [ScalarType.Float32] = "F32", [ScalarType.Float64] = "F64", [ScalarType.Float16] = "F16",
        [ScalarType.BFloat16] = "BF16", [ScalarType.Int64] = "I64", [ScalarType.Int32] = "I32",
        [ScalarType.Int16] = "I16", [ScalarType.Int8] = "I8", [ScalarType.Byte] = "U8", [ScalarType.Bool] = "BOOL",
    };
    private static readonly Dictionary<string, ScalarType> DtypesByName = DtypeNames.ToDictionary(p => p.Value, p => p.Key);

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>, visible only once complete.</summary>
    public static void Save(string path, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var temporary = path + ".partial";
        using (var file = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None, CopyBufferBytes))
        {
            Save(file, tensors, metadata);
            file.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    public static void Save(Stream stream, IReadOnlyDictionary<string, Tensor> tensors, IReadOnlyDictionary<string, string>? metadata = null)
    {
        var header = new JsonObject();
        if (metadata is { Count: > 0 })
        {
            header[MetadataKey] = new JsonObject(metadata.Select(p => KeyValuePair.Create(p.Key, (JsonNode?)JsonValue.Create(p.Value))));
        }
        long offset = 0;
        foreach (var (name, tensor) in tensors)
        {
            if (!DtypeNames.TryGetValue(tensor.dtype, out var dtype))
            {
                throw new ArgumentException($"tensor '{name}' has dtype {tensor.dtype}, which safetensors files here do not hold");
            }
            var bytes = tensor.numel() * tensor.ElementSize;
            header[name] = new JsonObject
            {
                ["dtype"] = dtype,
                ["shape"] = new JsonArray(tensor.shape.Select(d => (JsonNode?)JsonValue.Create(d)).ToArray()),
                ["data_offsets"] = new JsonArray(offset, offset + bytes),
            };
            offset += bytes;
        }

        var json = Encoding.UTF8.GetBytes(header.ToJsonString());
        var padded = (json.Length + 7) / 8 * 8; // the format pads the header with spaces to 8-byte alignment
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)padded);
        stream.Write(length);
        stream.Write(json);
        for (var i = json.Length; i < padded; i++) stream.WriteByte((byte)' ');

        foreach (var tensor in tensors.Values)
        {
            using var scope = NewDisposeScope();
            tensor.detach().cpu().contiguous().WriteBytesToStream(stream, CopyBufferBytes);
        }
    }

    /// <summary>Reads every tensor of a safetensors file; the caller owns (and disposes) the tensors.</summary>
    public static SafeTensorsContent Load(string path)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, CopyBufferBytes);
        try
        {
            return Load(file);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    public static SafeTensorsContent Load(Stream stream)
    {
        Span<byte> lengthBytes = stackalloc byte[8];
        stream.ReadExactly(lengthBytes);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        var available = stream.CanSeek ? stream.Length - 8 : long.MaxValue;
        if (headerLength > MaxHeaderBytes || (long)headerLength > available)
        {
            throw new InvalidDataException($"not a safetensors file: header length {headerLength} exceeds the file");
        }
        var json = new byte[headerLength];
        stream.ReadExactly(json);

        JsonObject header;
        try
        {
            header = JsonNode.Parse(json)?.AsObject() ?? throw new InvalidDataException("the header is empty");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"the header is not valid JSON: {e.Message}", e);
        }

        var metadata = header[MetadataKey]?.AsObject().ToDictionary(p => p.Key, p => p.Value?.GetValue<string>() ?? "") ?? [];
        var entries = header.Where(p => p.Key != MetadataKey).Select(p => Entry.Parse(p.Key, p.Value)).OrderBy(e => e.Begin).ToList();
        var dataLength = available - (long)headerLength;

        var tensors = new Dictionary<string, Tensor>();
        try
        {
            long position = 0;
            foreach (var entry in entries)
            {
                if (entry.Begin != position)
                {
                    throw new InvalidDataException($"tensor '{entry.Name}' starts at byte {entry.Begin}, expected {position} (gap or overlap)");
                }
                if (entry.End > dataLength)
                {
                    throw new InvalidDataException($"tensor '{entry.Name}' ends at byte {entry.End}, past the end of the data ({dataLength} bytes)");
                }
                var tensor = empty(entry.Shape, entry.Dtype);
                tensors[entry.Name] = tensor;
                if (tensor.numel() * tensor.ElementSize != entry.End - entry.Begin)
                {
                    throw new InvalidDataException($"tensor '{entry.Name}' has {entry.End - entry.Begin} bytes, but shape [{string.Join(", ", entry.Shape)}] of {entry.Dtype} needs {tensor.numel() * tensor.ElementSize}");
                }
                tensor.ReadBytesFromStream(stream, CopyBufferBytes);
                position = entry.End;
            }
        }
        catch
        {
            foreach (var t in tensors.Values) t.Dispose();
            throw;
        }
        return new SafeTensorsContent(tensors, metadata);
    }

    private sealed record Entry(string Name, ScalarType Dtype, long[] Shape, long Begin, long End)
    {
        public static Entry Parse(string name, JsonNode? node)
        {
            try
            {
                var dtypeName = node!["dtype"]!.GetValue<string>();
                if (!DtypesByName.TryGetValue(dtypeName, out var dtype))
                {
                    throw new InvalidDataException($"tensor '{name}' has dtype '{dtypeName}', which is not supported");
                }
                var shape = node["shape"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                var offsets = node["data_offsets"]!.AsArray().Select(d => d!.GetValue<long>()).ToArray();
                if (offsets.Length != 2 || offsets[0] < 0 || offsets[1] < offsets[0])
                {
                    throw new InvalidDataException($"tensor '{name}' has invalid data_offsets [{string.Join(", ", offsets)}]");
                }
                return new Entry(name, dtype, shape, offsets[0], offsets[1]);
            }
            catch (Exception e) when (e is NullReferenceException or InvalidOperationException or FormatException)
            {
                throw new InvalidDataException($"tensor '{name}' has a malformed header entry (needs dtype, shape, data_offsets)", e);
            }
        }
    }
}

/// <summary>The tensors and free-form metadata of one safetensors file.</summary>
public sealed record SafeTensorsContent(Dictionary<string, Tensor> Tensors, Dictionary<string, string> Metadata) : IDisposable
{
    public void Dispose()
    {
        foreach (var tensor in Tensors.Values) tensor.Dispose();
    }
}
