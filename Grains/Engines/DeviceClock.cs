using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>
/// The time line of one emulated device: an operation of s emulated seconds occupies it for s / scale
/// wall seconds from when it is both asked for and free, and the caller awaits its end (a timer, not a
/// thread). Operations of one stage queued back to back (each starting as the last ends) are kept as one bar.
/// </summary>
public sealed class DeviceClock(double timeScale) : IDeviceTime
{
    private readonly List<BusyInterval> intervals = [];
    private DateTimeOffset freeAt = DateTimeOffset.MinValue;
    private double busySeconds;

    public double TimeScale { get; } = timeScale > 0 ? timeScale : throw new ArgumentOutOfRangeException(nameof(timeScale), timeScale, "must be positive");

    public Task Occupy(double emulatedSeconds, string stage)
    {
        if (emulatedSeconds < 0 || !double.IsFinite(emulatedSeconds)) throw new ArgumentOutOfRangeException(nameof(emulatedSeconds), emulatedSeconds, "an operation takes a finite, non-negative time");
        var now = DateTimeOffset.UtcNow;
        var start = now > freeAt ? now : freeAt;
        var end = start + TimeSpan.FromSeconds(emulatedSeconds / TimeScale);
        freeAt = end;
        busySeconds += (end - start).TotalSeconds;
        if (intervals.Count > 0 && intervals[^1].Stage == stage && start <= intervals[^1].End) intervals[^1] = intervals[^1] with { End = end };
        else intervals.Add(new BusyInterval(start, end, stage));
        var wait = end - now;
        return wait > TimeSpan.Zero ? Task.Delay(wait) : Task.CompletedTask;
    }

    /// <summary>Busy wall seconds and bars since the last call.</summary>
    public (double BusySeconds, BusyInterval[] Intervals) Take()
    {
        var taken = (busySeconds, intervals.ToArray());
        busySeconds = 0;
        intervals.Clear();
        return taken;
    }
}
