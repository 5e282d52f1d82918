namespace Client.Chaos;

/// <summary>One half-minute reading of a soak: per silo process, its resident memory and its managed heap (MiB).</summary>
public sealed record SoakReading(double Minutes, int Iterations, int Activations, IReadOnlyDictionary<string, double> ResidentMiB, IReadOnlyDictionary<string, double> HeapMiB);

/// <summary>How much one silo process grew: the mean of its last five minutes' readings over the mean of its sixth to tenth minute.</summary>
public sealed record SoakGrowth(string Silo, double Minutes, double Resident, double? Heap);

/// <summary>
/// The soak's verdict from its readings. Means over windows, not single readings: the garbage collector's saw
/// tooth and the activations' rise and fall within a step (a step's samples collected two idle minutes after
/// they are trained) would make one reading at a peak against one at a trough look like a leak.
/// </summary>
public static class SoakVerdict
{
    /// <summary>The share by which a process may grow, and the activations rise (the bound).</summary>
    public const double Bound = 0.10;

    private const double Settle = 5, Window = 5, ActivationsFrom = 5, ActivationsTo = 15, ActivationsLast = 10;

    /// <summary>
    /// Each process that lived at least <see cref="Settle"/> + 2 x <see cref="Window"/> minutes: the mean of its
    /// readings in its last five minutes over that of its minutes 5-10 (the first five are its start-up).
    /// </summary>
    public static IReadOnlyList<SoakGrowth> Growth(IReadOnlyList<SoakReading> readings)
    {
        var growth = new List<SoakGrowth>();
        foreach (var name in readings.SelectMany(r => r.ResidentMiB.Keys).Distinct().Order())
        {
            var lived = readings.Where(r => r.ResidentMiB.ContainsKey(name)).ToList();
            if (lived.Count == 0 || lived[^1].Minutes - lived[0].Minutes < Settle + 2 * Window) continue;
            var settled = lived.Where(r => r.Minutes >= lived[0].Minutes + Settle && r.Minutes < lived[0].Minutes + Settle + Window).ToList();
            var last = lived.Where(r => r.Minutes > lived[^1].Minutes - Window).ToList();
            growth.Add(new SoakGrowth(name, last[^1].Minutes - settled[0].Minutes, Ratio(settled, last, r => r.ResidentMiB.GetValueOrDefault(name)),
                settled.Concat(last).All(r => r.HeapMiB.ContainsKey(name)) ? Ratio(settled, last, r => r.HeapMiB[name]) : null));
        }
        return growth;
    }

    /// <summary>
    /// The mean activations of the last ten minutes over that of minutes 5-15, minus one; null for a run too
    /// short to have both windows apart.
    /// </summary>
    public static double? Activations(IReadOnlyList<SoakReading> readings)
    {
        if (readings.Count == 0) return null;
        var end = readings[^1].Minutes;
        var early = readings.Where(r => r.Minutes >= ActivationsFrom && r.Minutes < ActivationsTo && r.Activations > 0).ToList();
        var late = readings.Where(r => r.Minutes > end - ActivationsLast && r.Minutes >= ActivationsTo && r.Activations > 0).ToList();
        return early.Count == 0 || late.Count == 0 ? null : Ratio(early, late, r => r.Activations);
    }

    /// <summary>Healthy: nothing lost, the job still running, and neither memory nor activations grew past the bound.</summary>
    public static bool Healthy(IReadOnlyList<SoakGrowth> growth, double? activations, int lost, string? failed) =>
        lost == 0 && failed is null && growth.Count > 0 && growth.All(g => g.Resident <= Bound) && activations is not > Bound;

    private static double Ratio(IReadOnlyList<SoakReading> from, IReadOnlyList<SoakReading> to, Func<SoakReading, double> value) =>
        to.Average(value) / from.Average(value) - 1;
}
