using Grains.Interfaces.Cluster;

namespace Grains.Engines;

/// <summary>
/// The time line an emulated engine books its work on: a device of its own (<see cref="DeviceClock"/>),
/// or its role's view of a hybrid device that a colocated job's roles share (<see cref="HybridDevice"/>).
/// </summary>
public interface IDeviceTime
{
    double TimeScale { get; }

    /// <summary>Occupies the device for <paramref name="emulatedSeconds"/> from when it is free; completes when that work ends.</summary>
    Task Occupy(double emulatedSeconds, string stage);

    /// <summary>Busy wall seconds and bars since the last call.</summary>
    (double BusySeconds, BusyInterval[] Intervals) Take();
}
