using System.Globalization;
using Kernels.Audio;
using Kernels.Text;
using MathNet.Numerics.Distributions;

namespace Kernels.Emulation;

/// <summary>
/// The marginal distribution of an emulated response's length, in [1, Max]: lognormal, lognormal with
/// a Pareto tail (a share of samples that run very long), or an empirical histogram. Given by its
/// quantile function, so a <see cref="LengthModel"/> can correlate draws through their quantiles.
/// </summary>
public abstract record LengthDistribution(int Max)
{
    /// <summary>The length at quantile u in [0, 1]: the smallest length whose cumulative share reaches u.</summary>
    public abstract int Quantile(double u);

    public int Sample(Random random) => Quantile(random.NextDouble());

    /// <summary>Chat-like: median 180 tokens, lognormal sigma 0.85, cut at 2,048: p99.9 is more than 10x the median.</summary>
    public static LengthDistribution Chat { get; } = new LogNormalLengths(180, 0.85, 2048);

    /// <summary>Reasoning-like: median 1,500 tokens, 5% of samples from a Pareto tail from 4,000 tokens, cut at 20,000.</summary>
    public static LengthDistribution Reasoning { get; } = new LogNormalParetoLengths(1500, 0.6, 0.05, 4000, 1.5, 20_000);

    /// <summary>
    /// Long reasoning with a 32K budget (DAPO-style math RL): a lognormal body (median 3,000, sigma 0.55)
    /// and 8% from a Pareto tail from 9,000 tokens, cut at 32,768. The median is about 3,200, p99 is the
    /// cap (about 10x the median), 1.5% of responses hit it, and the longest 10% hold 37% of the tokens.
    /// </summary>
    public static LengthDistribution Reasoning32K { get; } = new LogNormalParetoLengths(3000, 0.55, 0.08, 9000, 1.3, 32_768);

    /// <summary>
    /// Spoken answers of a speech model (Step-Audio's interleaved audio tokens, 41.7 a second): a lognormal body of
    /// median 10 s (sigma 0.6) and 5% from a Pareto tail from 30 s, cut at 2 minutes: about 420 tokens at the median,
    /// 5,000 at the cap.
    /// </summary>
    public static LengthDistribution Spoken { get; } = new LogNormalParetoLengths(10 * AudioTokenizer.TokensPerSecond, 0.6, 0.05,
        30 * AudioTokenizer.TokensPerSecond, 1.5, (int)(120 * AudioTokenizer.TokensPerSecond));

    public static IReadOnlyDictionary<string, LengthDistribution> Presets { get; } = new Dictionary<string, LengthDistribution>
    {
        ["chat"] = Chat, ["reasoning"] = Reasoning, ["reasoning-32k"] = Reasoning32K, ["spoken"] = Spoken,
    };

    public static LengthDistribution Preset(string name) =>
        Presets.TryGetValue(name, out var preset) ? preset : throw new ArgumentException($"length distribution '{name}' is not one of {string.Join(", ", Presets.Keys)}");

    /// <summary>A preset's name, or the path of a "length,count" histogram file.</summary>
    public static LengthDistribution Parse(string spec)
    {
        if (Presets.ContainsKey(spec)) return Preset(spec);
        if (!File.Exists(spec)) throw new ArgumentException($"lengths '{spec}' is neither a preset ({string.Join(", ", Presets.Keys)}) nor an existing histogram file");
        using var reader = File.OpenText(spec);
        return EmpiricalLengths.Read(reader, spec);
    }

    protected int Clamp(double length) => double.IsNaN(length) ? 1 : (int)Math.Clamp(Math.Round(length), 1, Max);

    /// <summary>The standard normal score at quantile u (infinite at 0 and 1, which <see cref="Clamp"/> bounds).</summary>
    protected static double NormalScore(double u) => Normal.InvCDF(0, 1, u);
}

/// <summary>length = median x exp(sigma z), z standard normal: quantile u gives z = Phi^-1(u).</summary>
public sealed record LogNormalLengths(double Median, double Sigma, int Max) : LengthDistribution(Max)
{
    public override int Quantile(double u) => Clamp(Median * Math.Exp(Sigma * NormalScore(u)));
}

/// <summary>
/// A lognormal body and, for a share TailShare of samples, a Pareto tail length = Scale / (1 - v)^(1/Alpha).
/// The top TailShare of quantiles go to the tail (v = (u - (1 - TailShare)) / TailShare), the rest to
/// the body at u / (1 - TailShare): the same mixture as choosing the part at random, drawn monotonically.
/// </summary>
public sealed record LogNormalParetoLengths(double Median, double Sigma, double TailShare, double Scale, double Alpha, int Max) : LengthDistribution(Max)
{
    // v is capped at 1: (1 - (1 - TailShare)) / TailShare rounds above 1, and the tail's top is the cap, not NaN.
    public override int Quantile(double u) => u > 1 - TailShare
        ? Clamp(Scale / Math.Pow(1 - Math.Min(1, (u - (1 - TailShare)) / TailShare), 1 / Alpha))
        : Clamp(Median * Math.Exp(Sigma * NormalScore(u / (1 - TailShare))));
}

/// <summary>A histogram of observed lengths: each bin's length is drawn with probability proportional to its count.</summary>
public sealed record EmpiricalLengths(IReadOnlyList<(int Length, double Count)> Bins) : LengthDistribution(Bins.Max(b => b.Length))
{
    private readonly double[] cumulative = Cumulative(Bins);

    /// <summary>The first bin whose running count passes u x total: a bin with no count is never chosen (u = 1 takes the last counted one).</summary>
    public override int Quantile(double u)
    {
        var target = u * cumulative[^1];
        var (low, high) = (0, Bins.Count - 1);
        while (low < high)
        {
            var middle = (low + high) / 2;
            if (cumulative[middle] > target) high = middle;
            else low = middle + 1;
        }
        while (Bins[low].Count == 0) low--;
        return Bins[low].Length;
    }

    /// <summary>Reads "length,count" lines (a header line and blank lines are skipped); a bad line is named by its number.</summary>
    public static EmpiricalLengths Read(TextReader reader, string source)
    {
        var bins = new List<(int, double)>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line) || (number == 1 && line.StartsWith("length", StringComparison.OrdinalIgnoreCase))) continue;
            var parts = line.Split(',');
            if (parts.Length != 2 || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var length) || length < 1
                || !double.TryParse(parts[1], CultureInfo.InvariantCulture, out var count) || count < 0 || !double.IsFinite(count))
            {
                throw new InvalidDataException($"{source}:{number}: expected \"length,count\" with a length >= 1 and a count >= 0, got {Excerpt.Of(line)}");
            }
            bins.Add((length, count));
        }
        if (bins.Count == 0 || bins.Sum(b => b.Item2) <= 0) throw new InvalidDataException($"{source}: no bins with a positive count");
        return new EmpiricalLengths(bins);
    }

    private static double[] Cumulative(IReadOnlyList<(int Length, double Count)> bins)
    {
        var sums = new double[bins.Count];
        var total = 0.0;
        for (var i = 0; i < bins.Count; i++) sums[i] = total += bins[i].Count;
        return sums;
    }
}
