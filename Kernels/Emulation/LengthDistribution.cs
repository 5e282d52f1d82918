using System.Globalization;

namespace Kernels.Emulation;

/// <summary>
/// Where an emulated sample's response length comes from: seeded draws in [1, Max]. Lognormal,
/// lognormal with a Pareto tail (a share of samples that run very long), or an empirical histogram.
/// </summary>
public abstract record LengthDistribution(int Max)
{
    public abstract int Sample(Random random);

    /// <summary>Chat-like: median 180 tokens, lognormal sigma 0.85, cut at 2,048: p99.9 is more than 10x the median.</summary>
    public static LengthDistribution Chat { get; } = new LogNormalLengths(180, 0.85, 2048);

    /// <summary>Reasoning-like: median 1,500 tokens, 5% of samples from a Pareto tail from 4,000 tokens, cut at 20,000.</summary>
    public static LengthDistribution Reasoning { get; } = new LogNormalParetoLengths(1500, 0.6, 0.05, 4000, 1.5, 20_000);

    public static LengthDistribution Preset(string name) => name switch
    {
        "chat" => Chat,
        "reasoning" => Reasoning,
        _ => throw new ArgumentException($"length distribution '{name}' is not one of chat, reasoning"),
    };

    /// <summary>A preset's name, or the path of a "length,count" histogram file.</summary>
    public static LengthDistribution Parse(string spec)
    {
        if (spec is "chat" or "reasoning") return Preset(spec);
        if (!File.Exists(spec)) throw new ArgumentException($"lengths '{spec}' is neither a preset (chat, reasoning) nor an existing histogram file");
        using var reader = File.OpenText(spec);
        return EmpiricalLengths.Read(reader, spec);
    }

    protected int Clamp(double length) => (int)Math.Clamp(Math.Round(length), 1, Max);

    protected static double StandardNormal(Random random) =>
        Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
}

/// <summary>length = median x exp(sigma z), z standard normal.</summary>
public sealed record LogNormalLengths(double Median, double Sigma, int Max) : LengthDistribution(Max)
{
    public override int Sample(Random random) => Clamp(Median * Math.Exp(Sigma * StandardNormal(random)));
}

/// <summary>With probability TailShare, length = Scale / U^(1/Alpha) (Pareto, U uniform in (0, 1]); otherwise lognormal.</summary>
public sealed record LogNormalParetoLengths(double Median, double Sigma, double TailShare, double Scale, double Alpha, int Max) : LengthDistribution(Max)
{
    public override int Sample(Random random) => random.NextDouble() < TailShare
        ? Clamp(Scale / Math.Pow(1 - random.NextDouble(), 1 / Alpha))
        : Clamp(Median * Math.Exp(Sigma * StandardNormal(random)));
}

/// <summary>A histogram of observed lengths: each bin's length is drawn with probability proportional to its count.</summary>
public sealed record EmpiricalLengths(IReadOnlyList<(int Length, double Count)> Bins) : LengthDistribution(Bins.Max(b => b.Length))
{
    private readonly double[] cumulative = Cumulative(Bins);

    public override int Sample(Random random)
    {
        var target = random.NextDouble() * cumulative[^1];
        var index = Array.BinarySearch(cumulative, target);
        return Bins[Math.Min(index < 0 ? ~index : index + 1, Bins.Count - 1)].Length;
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
                throw new InvalidDataException($"{source}:{number}: expected \"length,count\" with a length >= 1 and a count >= 0, got \"{line}\"");
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
