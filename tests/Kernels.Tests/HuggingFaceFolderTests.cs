using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json.Nodes;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Tokenizers;

namespace Kernels.Tests;

public sealed class HuggingFaceFolderTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"hf-folder-{Guid.NewGuid():N}");

    public void Dispose()
    {
        if (Directory.Exists(folder)) Directory.Delete(folder, recursive: true);
    }

    /// <summary>
    /// Reads every shard the index names with Python's standard library alone (the safetensors layout: an
    /// 8-byte little-endian header length, a JSON header, raw data) and prints each tensor's name, dtype,
    /// shape and the SHA-256 of its bytes: a reader that shares no code with the writer.
    /// </summary>
    private const string IndependentReader = """
        import hashlib, json, os, struct, sys
        folder = sys.argv[1]
        index = json.load(open(os.path.join(folder, "model.safetensors.index.json")))
        for shard in sorted(set(index["weight_map"].values())):
            with open(os.path.join(folder, shard), "rb") as f:
                (n,) = struct.unpack("<Q", f.read(8))
                header = json.loads(f.read(n))
                data = f.read()
            for name, entry in header.items():
                if name == "__metadata__": continue
                assert index["weight_map"][name] == shard, name
                begin, end = entry["data_offsets"]
                print(name, entry["dtype"], "x".join(map(str, entry["shape"])), hashlib.sha256(data[begin:end]).hexdigest())
        """;

    [Fact]
    public void A_model_written_in_four_shards_reads_back_tensor_for_tensor_with_an_independent_reader()
    {
        using var model = new Transformer(TinyModels.Config);
        var tensors = model.state_dict();
        var total = tensors.Values.Sum(t => t.NumberOfElements * 4);

        // The smallest shard size that cuts the model into four.
        var size = Enumerable.Range(1, 400).Select(k => total * k / 1000).First(s => HuggingFaceFolder.Shards(tensors, s).Count == 4);

        var files = HuggingFaceFolder.Write(folder, TinyModels.Config, tensors, CharTokenizer.ForTasks(), temperature: 0.7, maxShardBytes: size);

        files.Count(f => f.StartsWith("model-")).Should().Be(4);
        files.Should().Contain(["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", HuggingFaceFolder.IndexFile]);
        var start = new ProcessStartInfo("python3", ["-c", IndependentReader, folder]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var python = Process.Start(start)!;
        var lines = python.StandardOutput.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        python.WaitForExit();
        python.ExitCode.Should().Be(0, python.StandardError.ReadToEnd());
        var read = lines.Select(l => l.Split(' ')).ToDictionary(p => p[0], p => (Dtype: p[1], Shape: p[2], Sha: p[3]));
        read.Keys.Should().BeEquivalentTo(tensors.Keys);
        foreach (var (name, tensor) in tensors)
        {
            read[name].Should().Be(("F32", string.Join("x", tensor.shape), Convert.ToHexString(SHA256.HashData(tensor.contiguous().bytes)).ToLowerInvariant()), name);
        }
        var index = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, HuggingFaceFolder.IndexFile)))!;
        index["metadata"]!["total_size"]!.GetValue<long>().Should().Be(total);

        // And back in: the import's reader gives every tensor bit for bit.
        var (config, back) = HuggingFaceFolder.Read(folder);
        config.Should().Be(TinyModels.Config);
        back.Keys.Should().BeEquivalentTo(tensors.Keys);
        foreach (var (name, tensor) in tensors) back[name].bytes.ToArray().Should().Equal(tensor.contiguous().bytes.ToArray(), name);
        File.Delete(Path.Combine(folder, "model-00003-of-00004.safetensors"));
        var lost = () => HuggingFaceFolder.Read(folder);
        lost.Should().Throw<FileNotFoundException>().WithMessage("*the index names shard model-00003-of-00004.safetensors, which is not there");
    }

    [Fact]
    public void The_config_and_tokenizer_say_what_transformers_needs_to_build_the_model()
    {
        using var model = new Transformer(TinyModels.Config);
        var tokenizer = CharTokenizer.ForTasks();

        HuggingFaceFolder.Write(folder, TinyModels.Config, model.state_dict(), tokenizer, temperature: 0.7, maxShardBytes: long.MaxValue);

        File.Exists(Path.Combine(folder, ModelCheckpoint.WeightsFile)).Should().BeTrue("one shard is model.safetensors");
        File.Exists(Path.Combine(folder, HuggingFaceFolder.IndexFile)).Should().BeFalse();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "config.json")))!;
        config["architectures"]![0]!.GetValue<string>().Should().Be("LlamaForCausalLM");
        (config["hidden_size"]!.GetValue<int>(), config["num_key_value_heads"]!.GetValue<int>(), config["eos_token_id"]!.GetValue<int>()).Should().Be((32, 2, tokenizer.EosId));
        ModelConfig.FromJson(File.ReadAllText(Path.Combine(folder, "config.json"))).Should().Be(TinyModels.Config, "the config reads back as the model's");
        var vocab = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "tokenizer.json")))!["model"]!["vocab"]!.AsObject();
        vocab.Count.Should().Be(tokenizer.VocabSize);
        foreach (var c in "12+3=?") vocab[c.ToString()]!.GetValue<int>().Should().Be(tokenizer.Encode(c.ToString())[0]);
        vocab["</s>"]!.GetValue<int>().Should().Be(tokenizer.EosId);
        using var reloaded = ModelCheckpoint.Load(folder);
        foreach (var (name, tensor) in model.state_dict()) reloaded.state_dict()[name].allclose(tensor, 0, 0).Should().BeTrue(name);
    }
}
