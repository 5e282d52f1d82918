namespace Kernels.Emulation;

/// <summary>
/// A decoder's shape, enough to count its parameters, FLOPs and KV-cache bytes: layers, hidden size,
/// attention heads and key/value heads (grouped-query attention), MLP width, vocabulary.
/// </summary>
public sealed record ModelShape(string Name, int Layers, int Hidden, int Heads, int KvHeads, int Intermediate, int Vocab)
{
    public static ModelShape Llama13B { get; } = new("llama-13b", 40, 5120, 40, 40, 13824, 32000);
    public static ModelShape Llama33B { get; } = new("llama-33b", 60, 6656, 52, 52, 17920, 32000);
    public static ModelShape Llama65B { get; } = new("llama-65b", 80, 8192, 64, 64, 22016, 32000);
    public static ModelShape Qwen25_7B { get; } = new("qwen2.5-7b", 28, 3584, 28, 4, 18944, 152064);
    public static ModelShape Qwen25_32B { get; } = new("qwen2.5-32b", 64, 5120, 40, 8, 27648, 152064);
    public static ModelShape Qwen25_72B { get; } = new("qwen2.5-72b", 80, 8192, 64, 8, 29568, 152064);

    public static IReadOnlyList<ModelShape> All { get; } = [Llama13B, Llama33B, Llama65B, Qwen25_7B, Qwen25_32B, Qwen25_72B];

    public static ModelShape Parse(string name) =>
        All.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"model shape {Text.Excerpt.Of(name)} is not one of {string.Join(", ", All.Select(m => m.Name))}");

    public int HeadDim => Hidden / Heads;

    /// <summary>Per layer: q and o projections (h x h each), k and v (h x kvHeads*headDim each), the SwiGLU MLP (3 h x I), two norms.</summary>
    public double LayerParameters => 2.0 * Hidden * Hidden + 2.0 * Hidden * KvHeads * HeadDim + 3.0 * Hidden * Intermediate + 2.0 * Hidden;

    /// <summary>Parameters every token's forward multiplies by: the layers and the LM head (the embedding is a lookup).</summary>
    public double MatmulParameters => Layers * LayerParameters + (double)Vocab * Hidden;

    /// <summary>All parameters: layers, final norm, input embedding and an untied LM head.</summary>
    public double Parameters => Layers * LayerParameters + Hidden + 2.0 * Vocab * Hidden;

    /// <summary>bf16 weights: 2 bytes per parameter.</summary>
    public double WeightBytes => 2 * Parameters;

    /// <summary>bf16 keys and values of one token in every layer: 2 (K, V) x layers x kvHeads x headDim x 2 bytes.</summary>
    public double KvBytesPerToken => 2.0 * Layers * KvHeads * HeadDim * 2;
}
