using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>The emulated length model: the copula's formula by hand, sibling correlation, drift, and the presets' shapes.</summary>
public sealed class LengthModelTests
{
    private static readonly LogNormalLengths Body = new(Median: 200, Sigma: 0.5, Max: 1_000_000);

    [Theory]
    [InlineData(11, 12, 0.0, 0.0, 0)]
    [InlineData(11, 13, 0.6, 0.0, 0)]
    [InlineData(7, 5, 0.6, 0.01, 10)]
    public void A_length_is_the_lognormal_at_the_mixed_normal_score_times_the_drift(long prompt, long sample, double rho, double drift, int version)
    {
        // For a lognormal, quantile(Phi(z)) = median exp(sigma z): the copula's length by hand.
        var z = Math.Sqrt(rho) * LengthModel.Score(prompt) + Math.Sqrt(1 - rho) * LengthModel.Score(sample);
        var expected = 200 * Math.Exp(0.5 * z) * Math.Pow(1 + drift, version);

        new LengthModel(Body, rho, drift).Length(prompt, sample, version).Should().Be((int)Math.Round(expected));
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(0.6)]
    public void Siblings_log_lengths_correlate_by_the_prompt_correlation(double rho)
    {
        var model = new LengthModel(Body, rho);
        var pairs = Enumerable.Range(0, 4000).Select(p => (Math.Log(model.Length(1000 + p, 50_000 + 2 * p, 0)), Math.Log(model.Length(1000 + p, 50_001 + 2 * p, 0)))).ToArray();

        Correlation(pairs).Should().BeApproximately(rho, 0.05);
        // The marginal stays the body's: half the responses are shorter than its median.
        pairs.Count(p => p.Item1 < Math.Log(200)).Should().BeInRange(1800, 2200);
    }

    [Fact]
    public void Lengths_grow_with_the_weight_version_and_stop_at_the_maximum()
    {
        var model = new LengthModel(new LogNormalLengths(1000, 0.3, 2000), 0.5, DriftPerVersion: 0.05);

        var first = Enumerable.Range(0, 500).Select(k => model.Length(k, 10_000 + k, 0)).ToArray();
        var later = Enumerable.Range(0, 500).Select(k => model.Length(k, 10_000 + k, 10)).ToArray();

        first.Zip(later).Where(p => p.First < 2000 / Math.Pow(1.05, 10)).Should().OnlyContain(p => Math.Abs(p.First * Math.Pow(1.05, 10) - p.Second) <= 1.5, "each length was rounded once before and once after the drift");
        later.Should().OnlyContain(l => l <= 2000).And.Contain(2000, "some responses reach the cap");
    }

    [Fact]
    public void A_pareto_tail_takes_the_top_quantiles()
    {
        var lengths = new LogNormalParetoLengths(Median: 100, Sigma: 0.5, TailShare: 0.1, Scale: 1000, Alpha: 2, Max: 100_000);

        // u = 0.95 is halfway into the tail: Scale / (1 - 0.5)^(1/2).
        lengths.Quantile(0.95).Should().Be((int)Math.Round(1000 / Math.Sqrt(0.5)));
        // u = 0.45 is the body's median (0.45 / 0.9 = 0.5).
        lengths.Quantile(0.45).Should().Be(100);
        lengths.Quantile(1.0).Should().Be(100_000, "the top quantile is the cap");
        lengths.Quantile(0.0).Should().Be(1);
    }

    [Fact]
    public void Reasoning_32k_has_a_p99_about_ten_times_its_median_at_the_cap()
    {
        var preset = LengthDistribution.Preset("reasoning-32k");
        var sorted = Enumerable.Range(0, 20_000).Select(i => preset.Quantile((i + 0.5) / 20_000)).ToArray();

        var (median, p99) = (sorted[10_000], sorted[19_800]);
        ((double)p99 / median).Should().BeInRange(8, 12);
        p99.Should().Be(32_768);
        sorted.Count(l => l == 32_768).Should().BeInRange(200, 400, "about 1.5% hit the cap");
        LengthDistribution.Parse("reasoning-32k").Should().Be(preset);
    }

    private static double Correlation((double X, double Y)[] pairs)
    {
        var (mx, my) = (pairs.Average(p => p.X), pairs.Average(p => p.Y));
        var cov = pairs.Sum(p => (p.X - mx) * (p.Y - my));
        return cov / Math.Sqrt(pairs.Sum(p => (p.X - mx) * (p.X - mx)) * pairs.Sum(p => (p.Y - my) * (p.Y - my)));
    }
}
