using System.Diagnostics;
using Kernels.Generation;
using Kernels.Model;
using Kernels.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Benchmarks;

/// <summary>What one model measured: decoding, cached against recomputed generation, and training.</summary>
public sealed record KernelBenchmarkResult(
    string Model, long Parameters,
    IReadOnlyList<(int Batch, double TokensPerSecond)> Decode,
    int NewTokens, double CachedSeconds, double RecomputeSeconds,
    int TrainBatch, int TrainLength, double TrainTokensPerSecond, double TrainFlopsPerSecond, double MatmulFlopsPerSecond)
{
    public double CacheSpeedup => RecomputeSeconds / CachedSeconds;
    public double TrainEfficiency => TrainFlopsPerSecond / MatmulFlopsPerSecond;
}

/// <summary>
/// Measures the kernels the grains run, on this machine, with every figure taken in the same run so
/// that ratios compare like with like. FLOPs of a training step follow the usual count:
/// 6 N per token for the matrix multiplies of forward and backward (N: parameters outside the
/// embedding lookup, the LM head included) plus 12 L d T per token for attention scores and values.
/// </summary>
public static class KernelBenchmark
{
    private const int PromptLength = 16;

    public static KernelBenchmarkResult Run(string name, ModelConfig config, int[] decodeBatches, int newTokens, int trainBatch, int trainLength, int trainSteps)
    {
        using var model = new Transformer(config, seed: 1);
        var matmul = MatmulFlopsPerSecond();
        var decode = decodeBatches.Select(b => (b, DecodeTokensPerSecond(model, b, steps: 32))).ToList();
        var cached = Time(() => ContinuousBatch.Generate(model, [Request(0, newTokens)], 1, PromptLength + newTokens + 1));
        var recompute = Time(() => GenerateWithoutCache(model, newTokens));
        var (tokensPerSecond, flopsPerSecond) = Training(model, trainBatch, trainLength, trainSteps);
        return new KernelBenchmarkResult(name, model.parameters().Sum(p => p.numel()), decode, newTokens, cached, recompute,
            trainBatch, trainLength, tokensPerSecond, flopsPerSecond, matmul);
    }

    /// <summary>FLOP/s of a 2048 x 2048 fp32 matrix multiply: the machine's practical peak.</summary>
    public static double MatmulFlopsPerSecond(int size = 2048, int repeats = 8)
    {
        using var scope = NewDisposeScope();
        var a = randn([size, size], generator: new Generator(1));
        var b = randn([size, size], generator: new Generator(2));
        a.mm(b);
        var seconds = Time(() => { for (var i = 0; i < repeats; i++) a.mm(b).Dispose(); });
        return 2.0 * size * size * size * repeats / seconds;
    }

    private static GenerationRequest Request(int i, int newTokens) =>
        new($"r{i}", Enumerable.Range(0, PromptLength).Select(t => 3 + (i + t) % 40).ToArray(), new SamplingParams(newTokens, Seed: i));

    /// <summary>Tokens per second of a full batch once its prompts are read: only decode steps are timed.</summary>
    private static double DecodeTokensPerSecond(Transformer model, int batchSize, int steps)
    {
        using var batch = new ContinuousBatch(model, batchSize, PromptLength + steps + 2);
        for (var i = 0; i < batchSize; i++) batch.Add(Request(i, steps + 1));
        batch.Step();
        var seconds = Time(() => { for (var s = 0; s < steps; s++) batch.Step(); });
        return batchSize * steps / seconds;
    }

    /// <summary>Generation as without a cache: every new token re-reads the whole sequence.</summary>
    private static void GenerateWithoutCache(Transformer model, int newTokens)
    {
        using var _ = no_grad();
        var tokens = Request(0, newTokens).Prompt.Select(t => (long)t).ToList();
        for (var i = 0; i < newTokens; i++)
        {
            using var scope = NewDisposeScope();
            var logits = model.Forward(tensor(tokens.ToArray()).unsqueeze(0));
            tokens.Add(logits[0, -1].argmax().item<long>());
        }
    }

    private static (double TokensPerSecond, double FlopsPerSecond) Training(Transformer model, int batch, int length, int steps)
    {
        using var optimizer = new AdamWOptimizer(model.parameters(), new OptimizerOptions { LearningRate = 1e-4 });
        using var data = randint(0, model.Config.VocabSize, [batch, length], generator: new Generator(3));
        void Step()
        {
            using var scope = NewDisposeScope();
            (-model.NextTokenLogProbs(data).mean()).backward();
            optimizer.Step();
        }
        Step();
        var seconds = Time(() => { for (var i = 0; i < steps; i++) Step(); }) / steps;
        var config = model.Config;
        var matmulParameters = model.parameters().Sum(p => p.numel()) - (config.TieEmbeddings ? 0 : (long)config.VocabSize * config.HiddenSize);
        var flopsPerToken = 6.0 * matmulParameters + 12.0 * config.Layers * config.HiddenSize * length;
        return (batch * length / seconds, flopsPerToken * batch * length / seconds);
    }

    private static double Time(Action action)
    {
        var clock = Stopwatch.StartNew();
        action();
        return clock.Elapsed.TotalSeconds;
    }
}
