using Grains.Interfaces.Jobs;
using Grains.Storage;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Tokenizers;

namespace Grains.Models;

/// <summary>The model presets a job can name, their tokenizer, and weights moving through the checkpoint store.</summary>
public static class ModelCatalog
{
    public static ModelConfig Config(string preset) => preset switch
    {
        RlSpec.DemoModel => ModelPresets.Demo,
        _ => throw Unknown(preset),
    };

    public static ITokenizer Tokenizer(string preset) => preset switch
    {
        RlSpec.DemoModel => CharTokenizer.ForTasks(),
        _ => throw Unknown(preset),
    };

    private static ArgumentException Unknown(string preset) => new($"model '{preset}' is not a known preset ({RlSpec.DemoModel})");

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
