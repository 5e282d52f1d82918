using Grains.Interfaces.Rl;

namespace Client.Benchmarks;

/// <summary>
/// Seeded training rows of random tokens with made-up log-probs, advantages, values and returns: a
/// training step's inputs when only its arithmetic and timing matter: pipeline-bench's workload, and
/// the tests' equivalence checks.
/// </summary>
public static class SyntheticRows
{
    public static TrainingRow[] Make(int count, int vocabulary, int seed, (int Min, int Max) promptLength, (int Min, int Max) responseLength)
    {
        var random = new Random(seed);
        float[] Floats(int n, double offset) => Enumerable.Range(0, n).Select(_ => (float)(offset + random.NextDouble() - 0.5)).ToArray();
        int[] Tokens(int n) => Enumerable.Range(0, n).Select(_ => random.Next(vocabulary)).ToArray();
        return Enumerable.Range(0, count).Select(_ =>
        {
            var (prompt, response) = (random.Next(promptLength.Min, promptLength.Max + 1), random.Next(responseLength.Min, responseLength.Max + 1));
            return new TrainingRow(Tokens(prompt), Tokens(response), Floats(response, -3), Floats(response, 0), Floats(response, 0), Floats(response, 0.5), null);
        }).ToArray();
    }
}
