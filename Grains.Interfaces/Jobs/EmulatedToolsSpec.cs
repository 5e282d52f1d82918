namespace Grains.Interfaces.Jobs;

/// <summary>
/// Tool calls on emulated devices (rl.emulation.tools): an agentic workload's responses stop for tools whose
/// answers take a drawn time, so bench measures what tool latency does to generation's tail. A calling sample
/// leaves the batch (its KV cache kept on the device) and comes back with the result's tokens appended.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EmulatedToolsSpec
{
    /// <summary>Mean tool calls a response makes (Poisson).</summary>
    [Id(0)] public double CallsPerSample { get; init; } = 2;
    /// <summary>The most calls a response makes.</summary>
    [Id(1)] public int MaxTurns { get; init; } = 8;
    /// <summary>Median emulated seconds a call takes to answer (log-normal).</summary>
    [Id(2)] public double LatencyMedianSeconds { get; init; } = 1;
    /// <summary>The latency's spread: the standard deviation of its logarithm (0: every call takes the median).</summary>
    [Id(3)] public double LatencySigma { get; init; } = 1;
    /// <summary>Tokens a result appends to the response.</summary>
    [Id(4)] public int ResultTokens { get; init; } = 64;

    public string? Problem()
    {
        static string? Range(string field, double value, double min, double max) =>
            value >= min && value <= max ? null : $"rl.emulation.tools.{field}: {value} must be between {min} and {max}";
        return Range("callsPerSample", CallsPerSample, 0, 64) ?? Range("maxTurns", MaxTurns, 1, 64)
            ?? Range("latencyMedianSeconds", LatencyMedianSeconds, 1e-6, 3600) ?? Range("latencySigma", LatencySigma, 0, 4)
            ?? Range("resultTokens", ResultTokens, 0, 65_536);
    }
}
