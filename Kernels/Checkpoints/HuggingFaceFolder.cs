using System.Text.Json;
using System.Text.Json.Nodes;
using Kernels.Model;
using Kernels.Tokenizers;
using static TorchSharp.torch;

namespace Kernels.Checkpoints;

/// <summary>
/// A model written as a Hugging Face model folder: config.json (the LLaMA or Qwen2 config with its
/// architecture), the weights in model.safetensors or, above a shard size, model-0000k-of-0000n.safetensors
/// shards with model.safetensors.index.json mapping each tensor to its shard, generation_config.json, and
/// the tokenizer as tokenizer.json and tokenizer_config.json.
/// </summary>
public static class HuggingFaceFolder
{
    public const string IndexFile = "model.safetensors.index.json";

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>Writes the folder (created if need be) with the character tokenizer's files; returns the files written, in order.</summary>
    public static IReadOnlyList<string> Write(string folder, ModelConfig config, IReadOnlyDictionary<string, Tensor> tensors, CharTokenizer tokenizer,
        double temperature, long maxShardBytes) => Write(folder, config, tensors, tokenizer, new Dictionary<string, JsonNode>
        {
            ["tokenizer.json"] = tokenizer.ToHuggingFaceJson(),
            ["tokenizer_config.json"] = new JsonObject
            {
                ["tokenizer_class"] = "PreTrainedTokenizerFast", ["pad_token"] = CharTokenizer.SpecialNames[0], ["bos_token"] = CharTokenizer.SpecialNames[1],
                ["eos_token"] = CharTokenizer.SpecialNames[2], ["model_max_length"] = config.MaxPositions,
            },
        }, temperature, maxShardBytes);

    /// <summary>
    /// Writes the folder (created if need be): config.json and generation_config.json with <paramref name="tokenizer"/>'s
    /// special ids, the tokenizer's files as given (a folder model's own), a speech model's codebooks, the weights; returns the files written, in order.
    /// </summary>
    public static IReadOnlyList<string> Write(string folder, ModelConfig config, IReadOnlyDictionary<string, Tensor> tensors, ITokenizer tokenizer,
        IReadOnlyDictionary<string, JsonNode> tokenizerFiles, double temperature, long maxShardBytes)
    {
        if (maxShardBytes < 1) throw new ArgumentOutOfRangeException(nameof(maxShardBytes), maxShardBytes, "a shard holds at least one byte");
        Directory.CreateDirectory(folder);
        var written = new List<string>();
        void Json(string file, JsonNode node)
        {
            File.WriteAllText(Path.Combine(folder, file), node.ToJsonString(Indented));
            written.Add(file);
        }

        var hfConfig = JsonNode.Parse(config.ToJson())!.AsObject();
        hfConfig["architectures"] = new JsonArray(config.ModelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
        hfConfig["hidden_act"] = "silu";
        hfConfig["torch_dtype"] = "float32";
        (hfConfig["pad_token_id"], hfConfig["bos_token_id"], hfConfig["eos_token_id"]) = (tokenizer.PadId, tokenizer.BosId, tokenizer.EosId);
        Json("config.json", hfConfig);
        Json("generation_config.json", new JsonObject
        {
            ["pad_token_id"] = tokenizer.PadId, ["bos_token_id"] = tokenizer.BosId, ["eos_token_id"] = tokenizer.EosId, ["do_sample"] = true, ["temperature"] = temperature,
        });
        foreach (var (file, node) in tokenizerFiles) Json(file, node.DeepClone());
        // A speech model's audio tokens mean nothing without the codebooks that made them: they go with its vocabulary.
        if (tokenizer is SpeechTokenizer speech)
        {
            speech.Audio.Save(Path.Combine(folder, HuggingFaceTokenizer.CodebooksFile));
            written.Add(HuggingFaceTokenizer.CodebooksFile);
        }

        var shards = Shards(tensors, maxShardBytes);
        var total = tensors.Values.Sum(Bytes);
        if (shards.Count == 1)
        {
            SafeTensors.Save(Path.Combine(folder, ModelCheckpoint.WeightsFile), tensors, new Dictionary<string, string> { ["format"] = "pt" });
            written.Add(ModelCheckpoint.WeightsFile);
            return written;
        }
        var map = new JsonObject();
        for (var k = 0; k < shards.Count; k++)
        {
            var file = $"model-{k + 1:D5}-of-{shards.Count:D5}.safetensors";
            SafeTensors.Save(Path.Combine(folder, file), shards[k].ToDictionary(n => n, n => tensors[n]), new Dictionary<string, string> { ["format"] = "pt" });
            written.Add(file);
            foreach (var name in shards[k]) map[name] = file;
        }
        Json(IndexFile, new JsonObject { ["metadata"] = new JsonObject { ["total_size"] = total }, ["weight_map"] = map });
        return written;
    }

    /// <summary>
    /// Reads a Hugging Face model folder: its config.json and its weights, one model.safetensors or the shards
    /// model.safetensors.index.json maps. A shard missing, a tensor the index names but its shard lacks, or a
    /// tensor in two shards is refused naming it. The caller disposes the tensors.
    /// </summary>
    public static (ModelConfig Config, Dictionary<string, Tensor> Tensors) Read(string folder)
    {
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(configPath)) throw new FileNotFoundException($"{folder}: no config.json (a Hugging Face model folder has one)", configPath);
        var config = ModelConfig.FromJson(File.ReadAllText(configPath), configPath);
        var indexPath = Path.Combine(folder, IndexFile);
        if (!File.Exists(indexPath))
        {
            var single = Path.Combine(folder, ModelCheckpoint.WeightsFile);
            if (!File.Exists(single)) throw new FileNotFoundException($"{folder}: neither {ModelCheckpoint.WeightsFile} nor {IndexFile}", single);
            using var content = SafeTensors.Load(single);
            return (config, new Dictionary<string, Tensor>(content.Tensors.Select(t => KeyValuePair.Create(t.Key, t.Value.clone()))));
        }
        var map = JsonNode.Parse(File.ReadAllText(indexPath))?["weight_map"]?.AsObject() ?? throw new InvalidDataException($"{indexPath}: no weight_map");
        var tensors = new Dictionary<string, Tensor>();
        foreach (var shard in map.Select(e => e.Value!.GetValue<string>()).Distinct())
        {
            var path = Path.Combine(folder, shard);
            if (!File.Exists(path)) throw new FileNotFoundException($"{folder}: the index names shard {shard}, which is not there", path);
            using var content = SafeTensors.Load(path);
            foreach (var (name, tensor) in content.Tensors)
            {
                if (tensors.ContainsKey(name)) throw new InvalidDataException($"{folder}: tensor '{name}' is in two shards");
                tensors[name] = tensor.clone();
            }
        }
        if (map.Select(e => e.Key).FirstOrDefault(name => !tensors.ContainsKey(name)) is { } lost)
        {
            throw new InvalidDataException($"{folder}: the index puts tensor '{lost}' in {map[lost]!.GetValue<string>()}, which does not hold it");
        }
        return (config, tensors);
    }

    /// <summary>The tensors' names by shard: in name order, each shard filled up to the size (a tensor larger than it is a shard of its own).</summary>
    public static IReadOnlyList<IReadOnlyList<string>> Shards(IReadOnlyDictionary<string, Tensor> tensors, long maxShardBytes)
    {
        var shards = new List<List<string>> { new() };
        long inShard = 0;
        foreach (var name in tensors.Keys.Order(StringComparer.Ordinal))
        {
            var bytes = Bytes(tensors[name]);
            if (shards[^1].Count > 0 && inShard + bytes > maxShardBytes) (shards, inShard) = ([.. shards, new()], 0);
            shards[^1].Add(name);
            inShard += bytes;
        }
        return shards;
    }

    private static long Bytes(Tensor tensor) => tensor.NumberOfElements * tensor.ElementSize;
}
