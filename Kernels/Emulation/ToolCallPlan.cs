using MathNet.Numerics.Distributions;

namespace Kernels.Emulation;

/// <summary>
/// The tool calls of an emulated agentic response, drawn from its seed so every worker draws the same: their
/// number Poisson with mean <see cref="MeanCalls"/> (at most <see cref="MaxTurns"/>), each at a uniform point of
/// the model's own tokens, each answered after a log-normal latency (median <see cref="MedianSeconds"/>, log-space
/// spread <see cref="Sigma"/>) with <see cref="ResultTokens"/> tokens appended to the response. A long-tailed
/// latency is what AReaL and StreamRL report tools add to generation's tail.
/// </summary>
public sealed record ToolCallPlan(double MeanCalls, int MaxTurns, double MedianSeconds, double Sigma, int ResultTokens)
{
    /// <summary>A call: where the response stands when it is made (its tokens so far, earlier results included) and how long its answer takes.</summary>
    public readonly record struct Call(int Position, double Seconds);

    /// <summary>
    /// The calls of a response of <paramref name="modelTokens"/> tokens of its own, in order, and its whole length
    /// (its tokens and the results'), held to <paramref name="maxTokens"/>: calls whose results would not fit are not made.
    /// </summary>
    public (Call[] Calls, int Length) Draw(long seed, int modelTokens, int maxTokens)
    {
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32) ^ 0x7001));
        var count = modelTokens < 2 ? 0 : Math.Min(MaxTurns, Poisson.Sample(random, MeanCalls));
        count = Math.Max(0, Math.Min(count, (maxTokens - modelTokens) / Math.Max(1, ResultTokens)));
        var points = Enumerable.Range(0, count).Select(_ => random.Next(1, modelTokens)).Order().ToArray();
        // The k-th call comes after its own point's tokens and the k earlier results.
        var calls = points.Select((p, k) => new Call(p + k * ResultTokens, LogNormal.Sample(random, Math.Log(MedianSeconds), Sigma))).ToArray();
        return (calls, modelTokens + count * ResultTokens);
    }
}
