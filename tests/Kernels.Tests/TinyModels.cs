using Kernels.Model;

namespace Kernels.Tests;

internal static class TinyModels
{
    /// <summary>Small enough to run in milliseconds, shaped like the real thing (GQA: 4 heads over 2 kv heads).</summary>
    public static readonly ModelConfig Config = new()
    {
        VocabSize = 23, HiddenSize = 32, Layers = 3, Heads = 4, KvHeads = 2, IntermediateSize = 48, MaxPositions = 64,
    };
}
