namespace Kernels.Generation;

/// <summary>
/// How one sequence is sampled. Temperature 0 is greedy; TopK 0 and TopP 1 switch those filters off. A sampled
/// <see cref="CallToken"/> ends a turn with a tool call: the sequence leaves the batch with its KV cache, to go on
/// once the tool's answer is appended.
/// </summary>
public sealed record SamplingParams(
    int MaxNewTokens,
    double Temperature = 1.0,
    int TopK = 0,
    double TopP = 1.0,
    long Seed = 0,
    IReadOnlyList<int>? StopTokens = null,
    int? CallToken = null)
{
    public void Validate()
    {
        if (MaxNewTokens < 1) throw new ArgumentOutOfRangeException(nameof(MaxNewTokens), MaxNewTokens, "MaxNewTokens must be at least 1");
        if (Temperature < 0 || double.IsNaN(Temperature)) throw new ArgumentOutOfRangeException(nameof(Temperature), Temperature, "Temperature must be >= 0");
        if (TopK < 0) throw new ArgumentOutOfRangeException(nameof(TopK), TopK, "TopK must be >= 0 (0 = off)");
        if (TopP is <= 0 or > 1 || double.IsNaN(TopP)) throw new ArgumentOutOfRangeException(nameof(TopP), TopP, "TopP must be in (0, 1]");
    }

    /// <summary>
    /// The uniform draw for a sequence's <paramref name="step"/>-th token: a pure function of the seed
    /// and the step (SplitMix64), so a sequence samples the same tokens whatever batch it runs in,
    /// and after moving to another worker.
    /// </summary>
    public double Uniform(int step)
    {
        var z = unchecked((ulong)Seed + (ulong)(step + 1) * 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return (z >> 11) * (1.0 / (1UL << 53));
    }
}
