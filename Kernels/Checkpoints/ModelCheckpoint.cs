using Kernels.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Checkpoints;

/// <summary>
/// A model on disk as Hugging Face lays it out: <c>config.json</c> and <c>model.safetensors</c> with
/// the standard parameter names, so the files interoperate with that ecosystem.
/// </summary>
public static class ModelCheckpoint
{
    public const string ConfigFile = "config.json";
    public const string WeightsFile = "model.safetensors";
    private const string HeadKey = "head";

    public static void Save(string directory, Transformer model)
    {
        Directory.CreateDirectory(directory);
        File.WriteAllText(Path.Combine(directory, ConfigFile), model.Config.ToJson());
        SafeTensors.Save(Path.Combine(directory, WeightsFile), model.state_dict(),
            new Dictionary<string, string> { ["format"] = "pt", [HeadKey] = model.Head.ToString() });
    }

    /// <summary>Loads the whole model, or the layer slice [firstLayer, endLayer) of it (a pipeline stage).</summary>
    public static Transformer Load(string directory, int firstLayer = 0, int? endLayer = null)
    {
        var configPath = Path.Combine(directory, ConfigFile);
        if (!File.Exists(configPath)) throw new FileNotFoundException($"checkpoint {directory} has no {ConfigFile}", configPath);
        var config = ModelConfig.FromJson(File.ReadAllText(configPath), configPath);
        using var content = SafeTensors.Load(Path.Combine(directory, WeightsFile));
        var head = content.Metadata.TryGetValue(HeadKey, out var h) && Enum.TryParse<HeadKind>(h, out var parsed) ? parsed : HeadKind.LanguageModel;
        var model = new Transformer(config, head, 0, firstLayer, endLayer);
        try
        {
            LoadWeights(model, content.Tensors, allowUnexpected: firstLayer != 0 || endLayer is not null, source: directory);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        return model;
    }

    /// <summary>
    /// Copies <paramref name="tensors"/> into the model's parameters by name. Every parameter must be
    /// present with its shape; names the model lacks are refused unless allowed (a stage loading from
    /// a whole model's file). The error lists every missing, unexpected and mis-shaped name.
    /// </summary>
    public static void LoadWeights(Transformer model, IReadOnlyDictionary<string, Tensor> tensors, bool allowUnexpected = false, string source = "checkpoint")
    {
        var own = model.state_dict();
        var missing = own.Keys.Where(k => !tensors.ContainsKey(k)).ToList();
        var unexpected = allowUnexpected ? [] : tensors.Keys.Where(k => !own.ContainsKey(k)).ToList();
        var misShaped = own.Where(p => tensors.TryGetValue(p.Key, out var t) && !t.shape.SequenceEqual(p.Value.shape))
            .Select(p => $"{p.Key} (file [{string.Join(", ", tensors[p.Key].shape)}], model [{string.Join(", ", p.Value.shape)}])").ToList();
        if (missing.Count + unexpected.Count + misShaped.Count > 0)
        {
            var parts = new List<string>();
            if (missing.Count > 0) parts.Add($"missing: {string.Join(", ", missing)}");
            if (unexpected.Count > 0) parts.Add($"unexpected: {string.Join(", ", unexpected)}");
            if (misShaped.Count > 0) parts.Add($"mis-shaped: {string.Join(", ", misShaped)}");
            throw new InvalidDataException($"{source} does not fit the model; {string.Join("; ", parts)}");
        }
        // The scope holds every temporary until the copies end, so none is finalized during one.
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        foreach (var (name, parameter) in own) parameter.copy_(tensors[name].to(parameter.dtype));
    }
}
