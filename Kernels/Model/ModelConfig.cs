using System.Text.Json;
using System.Text.Json.Serialization;

namespace Kernels.Model;

/// <summary>
/// The shape of a LLaMA/Qwen2-style decoder. Property names follow Hugging Face's config.json, so a
/// config written here describes the same model there.
/// </summary>
public sealed record ModelConfig
{
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 64;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; } = 64;
    [JsonPropertyName("num_hidden_layers")] public int Layers { get; init; } = 2;
    [JsonPropertyName("num_attention_heads")] public int Heads { get; init; } = 4;
    [JsonPropertyName("num_key_value_heads")] public int KvHeads { get; init; } = 2;
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; } = 172;
    [JsonPropertyName("max_position_embeddings")] public int MaxPositions { get; init; } = 256;
    [JsonPropertyName("tie_word_embeddings")] public bool TieEmbeddings { get; init; }
    /// <summary>Qwen2 puts biases on the q, k and v projections; LLaMA has none.</summary>
    [JsonPropertyName("attention_bias")] public bool AttentionBias { get; init; }
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10_000;
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "llama";

    [JsonIgnore] public int HeadDim => HiddenSize / Heads;

    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static ModelConfig FromJson(string json, string source = "model config")
    {
        ModelConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<ModelConfig>(json, Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{source}: {e.Message}", e);
        }
        return (config ?? throw new InvalidDataException($"{source}: empty")).Validated(source);
    }

    /// <summary>This config, or an error that names the first bad field.</summary>
    public ModelConfig Validated(string source = "model config")
    {
        string? problem =
            VocabSize < 2 ? "vocab_size must be at least 2" :
            HiddenSize < 1 ? "hidden_size must be positive" :
            Layers < 1 ? "num_hidden_layers must be positive" :
            Heads < 1 ? "num_attention_heads must be positive" :
            HiddenSize % Heads != 0 ? $"hidden_size {HiddenSize} must be divisible by num_attention_heads {Heads}" :
            HeadDim % 2 != 0 ? $"the head size hidden_size / num_attention_heads = {HeadDim} must be even for rotary embeddings" :
            KvHeads < 1 || Heads % KvHeads != 0 ? $"num_key_value_heads {KvHeads} must divide num_attention_heads {Heads}" :
            IntermediateSize < 1 ? "intermediate_size must be positive" :
            MaxPositions < 1 ? "max_position_embeddings must be positive" :
            RopeTheta <= 0 ? "rope_theta must be positive" :
            RmsNormEps <= 0 ? "rms_norm_eps must be positive" : null;
        return problem is null ? this : throw new ArgumentException($"{source}: {problem}");
    }
}
