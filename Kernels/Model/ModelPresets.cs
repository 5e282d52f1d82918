using Kernels.Tokenizers;

namespace Kernels.Model;

/// <summary>Named model shapes: the demo model the built-in tasks train, and a larger one for benchmarks.</summary>
public static class ModelPresets
{
    /// <summary>The demo policy for the built-in tasks: small enough to train on two CPU cores in minutes.</summary>
    public static ModelConfig Demo { get; } = new()
    {
        VocabSize = CharTokenizer.ForTasks().VocabSize, HiddenSize = 128, Layers = 4, Heads = 4, KvHeads = 2,
        IntermediateSize = 344, MaxPositions = 512,
    };

    /// <summary>8 layers of hidden size 512 with grouped-query attention: the benchmark's larger model.</summary>
    public static ModelConfig Large { get; } = new()
    {
        VocabSize = 512, HiddenSize = 512, Layers = 8, Heads = 8, KvHeads = 4, IntermediateSize = 1376, MaxPositions = 512,
    };
}
