using System.Buffers.Binary;
using System.Text;
using Kernels.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class SafeTensorsTests
{
    [Fact]
    public void Writes_the_documented_byte_layout()
    {
        using var scope = NewDisposeScope();
        using var stream = new MemoryStream();

        SafeTensors.Save(stream, new Dictionary<string, Tensor> { ["a"] = tensor(new[] { 1.0f, -2.0f }) });

        var bytes = stream.ToArray();
        const string json = """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""";
        var padded = (json.Length + 7) / 8 * 8;
        BinaryPrimitives.ReadUInt64LittleEndian(bytes).Should().Be((ulong)padded);
        Encoding.UTF8.GetString(bytes, 8, padded).Should().Be(json.PadRight(padded));
        bytes[(8 + padded)..].Should().Equal(0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0); // 1.0f, -2.0f little-endian
    }

    [Fact]
    public void Reads_a_file_laid_out_by_hand()
    {
        using var scope = NewDisposeScope();
        const string json = """{"__metadata__":{"format":"pt"},"w":{"dtype":"I64","shape":[1,2],"data_offsets":[0,16]}}""";
        var file = new List<byte>();
        file.AddRange(BitConverter.GetBytes((ulong)json.Length));
        file.AddRange(Encoding.UTF8.GetBytes(json));
        file.AddRange(BitConverter.GetBytes(7L));
        file.AddRange(BitConverter.GetBytes(-3L));

        using var content = SafeTensors.Load(new MemoryStream(file.ToArray()));

        content.Metadata.Should().Equal(new Dictionary<string, string> { ["format"] = "pt" });
        content.Tensors["w"].shape.Should().Equal(1, 2);
        content.Tensors["w"].data<long>().ToArray().Should().Equal(7L, -3L);
    }

    [Fact]
    public void Round_trips_every_dtype_through_a_file()
    {
        using var scope = NewDisposeScope();
        var path = Path.Combine(Path.GetTempPath(), $"actors-st-{Guid.NewGuid():N}.safetensors");
        var tensors = new Dictionary<string, Tensor>
        {
            ["model.embed_tokens.weight"] = randn(new long[] { 5, 3 }, generator: new Generator(1)),
            ["half"] = tensor(new[] { 0.5f, -1.25f }).to(float16),
            ["brain"] = tensor(new[] { 3.0f, 0.15625f }).to(bfloat16),
            ["steps"] = tensor(new[] { 1L, long.MaxValue }),
            ["mask"] = tensor(new[] { true, false, true }),
            ["scalar"] = tensor(2.5),
        };
        try
        {
            SafeTensors.Save(path, tensors, new Dictionary<string, string> { ["step"] = "12" });
            using var loaded = SafeTensors.Load(path);

            loaded.Metadata["step"].Should().Be("12");
            loaded.Tensors.Keys.Should().BeEquivalentTo(tensors.Keys);
            foreach (var (name, expected) in tensors)
            {
                loaded.Tensors[name].dtype.Should().Be(expected.dtype, name);
                loaded.Tensors[name].shape.Should().Equal(expected.shape, name);
                loaded.Tensors[name].eq(expected).all().item<bool>().Should().BeTrue(name);
            }
            File.Exists(path + ".partial").Should().BeFalse();
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void A_truncated_file_names_the_tensor_that_does_not_fit()
    {
        using var scope = NewDisposeScope();
        using var stream = new MemoryStream();
        SafeTensors.Save(stream, new Dictionary<string, Tensor> { ["first"] = zeros(4), ["second"] = zeros(4) });
        var truncated = stream.ToArray()[..^4];

        var act = () => SafeTensors.Load(new MemoryStream(truncated));

        act.Should().Throw<InvalidDataException>().WithMessage("*'second'*past the end*");
    }

    [Fact]
    public void A_header_length_beyond_the_file_is_rejected()
    {
        var bytes = new byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, 1_000);

        var act = () => SafeTensors.Load(new MemoryStream(bytes));

        act.Should().Throw<InvalidDataException>().WithMessage("*header length 1000*");
    }

    [Fact]
    public void An_unknown_dtype_or_a_wrong_size_names_the_tensor()
    {
        static byte[] File(string json, int dataBytes) =>
            [.. BitConverter.GetBytes((ulong)json.Length), .. Encoding.UTF8.GetBytes(json), .. new byte[dataBytes]];

        var unknown = () => SafeTensors.Load(new MemoryStream(File("""{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}""", 1)));
        var misSized = () => SafeTensors.Load(new MemoryStream(File("""{"y":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8)));

        unknown.Should().Throw<InvalidDataException>().WithMessage("*'x'*F8_E4M3*");
        misSized.Should().Throw<InvalidDataException>().WithMessage("*'y'*8 bytes*needs 12*");
    }
}
