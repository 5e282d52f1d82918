using MathNet.Numerics.Distributions;

namespace Kernels.Emulation;

/// <summary>
/// An emulated job's response lengths with what real RL traces have beside a long tail: responses to
/// one prompt are correlated (some prompts make every sibling long), and lengths grow as training goes
/// on. A Gaussian copula over a <see cref="LengthDistribution"/>: each prompt draws a latent z_p and
/// each response its own z_s, both standard normal; the response's score
/// z = sqrt(rho) z_p + sqrt(1 - rho) z_s is standard normal again, so every response still follows the
/// marginal, and two siblings' scores correlate by rho. The length is the marginal's quantile at
/// Phi(z), times (1 + drift)^v for a response sampled with weight version v, capped at the marginal's maximum.
/// </summary>
public sealed record LengthModel(LengthDistribution Marginal, double PromptCorrelation = 0, double DriftPerVersion = 0)
{
    public int Max => Marginal.Max;

    /// <summary>The length of the response of seed <paramref name="sampleSeed"/> to the prompt of seed <paramref name="promptSeed"/>, sampled with weight version <paramref name="version"/>.</summary>
    public int Length(long promptSeed, long sampleSeed, int version)
    {
        if (PromptCorrelation is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(PromptCorrelation), PromptCorrelation, "a correlation between 0 and 1");
        var z = Math.Sqrt(PromptCorrelation) * Score(promptSeed) + Math.Sqrt(1 - PromptCorrelation) * Score(sampleSeed);
        var length = Marginal.Quantile(Normal.CDF(0, 1, z)) * Math.Pow(1 + DriftPerVersion, Math.Max(0, version));
        return (int)Math.Clamp(Math.Round(length), 1, Max);
    }

    /// <summary>
    /// A standard normal draw that depends only on the seed: the seed hashed (SplitMix64's finalizer, so
    /// neighbouring seeds give unrelated draws, which System.Random's seeding does not), its top 53 bits as
    /// a uniform u in (0, 1), and Phi^-1(u).
    /// </summary>
    public static double Score(long seed)
    {
        var z = unchecked((ulong)seed + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        z ^= z >> 31;
        return Normal.InvCDF(0, 1, ((z >> 11) + 0.5) / (1UL << 53));
    }
}
