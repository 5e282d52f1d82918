namespace Grains.Data;

/// <summary>Seeds derived from a job's seed and counters (SplitMix64): the same in every process, unlike HashCode.</summary>
public static class Seeds
{
    public static long Mix(long seed, params long[] parts)
    {
        var z = unchecked((ulong)seed);
        foreach (var part in parts)
        {
            z = unchecked(z + 0x9E3779B97F4A7C15UL + (ulong)part);
            z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
            z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
            z ^= z >> 31;
        }
        return (long)(z >> 1);
    }

    /// <summary>The sampling seed of sample <paramref name="index"/> of an iteration.</summary>
    public static long Sample(long jobSeed, int iteration, int index) => Mix(jobSeed, iteration, index);

    /// <summary>The seed of prompt <paramref name="prompt"/> of an iteration (an emulated prompt's length latent).</summary>
    public static long Prompt(long jobSeed, int iteration, int prompt) => Mix(jobSeed, iteration, prompt, 0x9E);

    public static Random Random(long seed, params long[] parts) => new((int)(Mix(seed, parts) & int.MaxValue));
}
