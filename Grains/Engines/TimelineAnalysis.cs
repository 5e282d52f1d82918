using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>Figures read off an emulated iteration's timeline: how busy each role was, and how much of the iteration no device worked at all.</summary>
public static class TimelineAnalysis
{
    public static readonly IReadOnlyList<string> Roles = ["hybrid", "generation", "scoring", "actor", "critic"];

    /// <summary>The role of a device grain from its key (job/g{k}, job/s{k}, job/actor/{r}, job/critic/{r}; "hybrid": a colocated device's, job/g{k}@job/d{k}).</summary>
    public static string Role(string holder)
    {
        if (holder.Contains('@')) return "hybrid";
        var parts = holder.Split('/');
        return parts.Length >= 3 && parts[^2] is "actor" or "critic" ? parts[^2]
            : parts[^1].StartsWith('g') ? "generation"
            : parts[^1].StartsWith('s') ? "scoring"
            : throw new ArgumentException($"'{holder}' is not a generation worker, scorer or trainer key");
    }

    /// <summary>Each role's busy share of its instances' time over [0, <paramref name="seconds"/>].</summary>
    public static Dictionary<string, double> BusyByRole(IEnumerable<DeviceTimeline> timeline, IReadOnlyDictionary<string, int> instances, double seconds)
    {
        var busy = timeline.GroupBy(t => Role(t.Holder)).ToDictionary(g => g.Key, g => g.Sum(t => t.Bars.Sum(b => Clip(b, seconds))));
        return instances.Where(i => i.Value > 0).ToDictionary(i => i.Key, i => busy.GetValueOrDefault(i.Key) / (i.Value * seconds));
    }

    /// <summary>The share of [0, <paramref name="seconds"/>] during which no device was busy: time only the control plane explains.</summary>
    public static double NoDeviceBusyShare(IEnumerable<DeviceTimeline> timeline, double seconds)
    {
        var covered = 0.0;
        var reach = 0.0;
        foreach (var bar in timeline.SelectMany(t => t.Bars).OrderBy(b => b.Start))
        {
            var (start, end) = (Math.Max(bar.Start, reach), Math.Min(bar.End, seconds));
            if (end > start) covered += end - start;
            reach = Math.Max(reach, Math.Min(bar.End, seconds));
        }
        return Math.Max(0, 1 - covered / seconds);
    }

    private static double Clip(TimelineBar bar, double seconds) => Math.Max(0, Math.Min(bar.End, seconds) - Math.Max(bar.Start, 0));
}
