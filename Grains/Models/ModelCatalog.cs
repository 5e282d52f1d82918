using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Grains.Interfaces.Jobs;
using Grains.Storage;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Tokenizers;

namespace Grains.Models;

/// <summary>
/// The models a job can name (a preset, or a Hugging Face model folder on the silos' machines), their tokenizer,
/// and weights moving through the checkpoint store.
/// </summary>
public static class ModelCatalog
{
    // A folder's config and tokenizer, read once per process and version of its files (a BPE vocabulary takes a moment to build).
    private static readonly ConcurrentDictionary<(string Path, DateTime Config, DateTime Tokenizer), (ModelConfig Config, ITokenizer Tokenizer)> Folders = new();

    public static ModelConfig Config(string model) => model == RlSpec.DemoModel ? ModelPresets.Demo : Folder(model).Config;

    public static ITokenizer Tokenizer(string model) => model == RlSpec.DemoModel ? CharTokenizer.ForTasks() : Folder(model).Tokenizer;

    /// <summary>A folder's config and tokenizer, read again when either file changes (a user fixing a refused folder resubmits it).</summary>
    private static (ModelConfig Config, ITokenizer Tokenizer) Folder(string model)
    {
        var path = Path.GetFullPath(model);
        if (!Directory.Exists(path)) throw new ArgumentException($"model '{model}' is neither a preset ({RlSpec.DemoModel}) nor a Hugging Face model folder on this machine");
        var (configFile, tokenizerFile) = (Path.Combine(path, "config.json"), Path.Combine(path, "tokenizer.json"));
        var key = (path, File.GetLastWriteTimeUtc(configFile), File.GetLastWriteTimeUtc(tokenizerFile));
        if (Folders.TryGetValue(key, out var known)) return known;
        var config = ModelConfig.FromJson(File.Exists(configFile) ? File.ReadAllText(configFile)
            : throw new FileNotFoundException($"{model}: no config.json (a Hugging Face model folder has one)"), Path.Combine(model, "config.json"));
        var tokenizer = HuggingFaceTokenizer.Read(path);
        if (tokenizer.VocabSize > config.VocabSize) throw new InvalidDataException($"{Path.Combine(model, "tokenizer.json")}: ids up to {tokenizer.VocabSize - 1}, past config.json's vocab_size {config.VocabSize}");
        return Folders[key] = (config, tokenizer);
    }

    /// <summary>A folder model's own tokenizer files (tokenizer.json, and tokenizer_config.json where it has one), as an export copies them.</summary>
    public static IReadOnlyDictionary<string, JsonNode> TokenizerFiles(string model) =>
        new[] { "tokenizer.json", "tokenizer_config.json" }.Where(f => File.Exists(Path.Combine(model, f)))
            .ToDictionary(f => f, f => JsonNode.Parse(File.ReadAllText(Path.Combine(model, f)))!);

    /// <summary>Whether <paramref name="model"/> names a folder (its weights are where a new job's actor starts), not a preset.</summary>
    public static bool IsFolder(string model) => model != RlSpec.DemoModel;

    /// <summary>
    /// A folder model's weights loaded into its architecture (every missing, unexpected or mis-shaped tensor named)
    /// and written to the store as <paramref name="objectName"/>, for the trainers to load; with no object name, only checked.
    /// </summary>
    public static async Task ImportFolder(string model, ICheckpointStore? store = null, string? objectName = null)
    {
        byte[] bytes;
        var config = Config(model);
        var (_, tensors) = HuggingFaceFolder.Read(model);
        try
        {
            using var transformer = new Transformer(config, HeadKind.LanguageModel);
            ModelCheckpoint.LoadWeights(transformer, tensors, source: model);
            bytes = objectName is null ? [] : Serialize(transformer);
        }
        finally
        {
            foreach (var tensor in tensors.Values) tensor.Dispose();
        }
        if (objectName is not null) await WriteAsync(store!, objectName, bytes);
    }

    /// <summary>The model's weights as safetensors bytes.</summary>
    public static byte[] Serialize(Transformer model)
    {
        using var buffer = new MemoryStream();
        SafeTensors.Save(buffer, model.state_dict(), new Dictionary<string, string> { ["format"] = "pt", ["head"] = model.Head.ToString() });
        return buffer.ToArray();
    }

    /// <summary>Copies safetensors bytes into <paramref name="model"/>; the error names the object and what does not fit.</summary>
    /// <param name="slice">The model is a pipeline stage: the whole model's other tensors are skipped.</param>
    public static void Deserialize(Transformer model, byte[] bytes, string source, bool slice = false)
    {
        SafeTensorsContent content;
        try
        {
            content = SafeTensors.Load(new MemoryStream(bytes));
        }
        catch (InvalidDataException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        using (content) ModelCheckpoint.LoadWeights(model, content.Tensors, allowUnexpected: slice, source: source);
    }

    /// <summary>One model's weights from its pipeline stages' safetensors bytes.</summary>
    public static byte[] Merge(IEnumerable<byte[]> stages)
    {
        var contents = stages.Select(b => SafeTensors.Load(new MemoryStream(b))).ToList();
        try
        {
            var tensors = new Dictionary<string, TorchSharp.torch.Tensor>();
            foreach (var content in contents)
            {
                foreach (var (name, tensor) in content.Tensors)
                {
                    if (!tensors.TryAdd(name, tensor)) throw new InvalidDataException($"two stages hold '{name}'");
                }
            }
            using var buffer = new MemoryStream();
            SafeTensors.Save(buffer, tensors, contents[0].Metadata);
            return buffer.ToArray();
        }
        finally
        {
            foreach (var content in contents) content.Dispose();
        }
    }

    public static async Task<byte[]> ReadAsync(ICheckpointStore store, string name)
    {
        using var buffer = new MemoryStream();
        await store.ReadAsync(name, buffer);
        return buffer.ToArray();
    }

    public static Task WriteAsync(ICheckpointStore store, string name, byte[] bytes) => store.WriteAsync(name, new MemoryStream(bytes));
}
