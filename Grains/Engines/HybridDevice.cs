using System.Collections.Concurrent;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// One emulated device of a colocated job: its worker, scorer and trainers book their work on one
/// clock, in the order they ask, and the first work of another role than the last first pays the
/// cost model's switch (<see cref="RoleSwitch"/>), drawn on the time line as a "switch" bar. The
/// generation view reports the device's whole time line; the others report nothing, so the device
/// is counted once.
/// </summary>
public sealed class HybridDevice(DeviceClock clock, RoleSwitch switches)
{
    private readonly Lock gate = new();
    private DeviceRole role = DeviceRole.Generation;

    private double TimeScale { get; } = clock.TimeScale;

    public IDeviceTime As(DeviceRole view) => new View(this, view);

    private Task Occupy(DeviceRole by, double emulatedSeconds, string stage)
    {
        lock (gate)
        {
            var switched = Task.CompletedTask;
            if (by != role)
            {
                switched = clock.Occupy(switches.Seconds(role, by), "switch");
                role = by;
            }
            return emulatedSeconds > 0 ? clock.Occupy(emulatedSeconds, stage) : switched;
        }
    }

    private (double, BusyInterval[]) Take()
    {
        lock (gate) return clock.Take();
    }

    private sealed class View(HybridDevice device, DeviceRole role) : IDeviceTime
    {
        public double TimeScale => device.TimeScale;

        public Task Occupy(double emulatedSeconds, string stage) => device.Occupy(role, emulatedSeconds, stage);

        public (double BusySeconds, BusyInterval[] Intervals) Take() => role == DeviceRole.Generation ? device.Take() : (0, []);
    }
}

/// <summary>A silo's hybrid devices by slot ("job/d{k}"): the roles of one device find the same one.</summary>
public sealed class HybridDevices
{
    private readonly ConcurrentDictionary<string, HybridDevice> devices = new();

    /// <summary>The time line of <paramref name="role"/> on the device a colocated grain's key names; a device of its own otherwise.</summary>
    public IDeviceTime For(string grainKey, EmulatedDevice device, DeviceRole role)
    {
        if (device.Hybrid is not { } pool) return new DeviceClock(device.TimeScale);
        var slot = Interfaces.Pipeline.PipelineKeys.DeviceSlot(grainKey) ?? throw new ArgumentException($"'{grainKey}' names no device after '@', as a colocated job's keys do");
        return devices.GetOrAdd(slot, _ => new HybridDevice(new DeviceClock(device.TimeScale), Switches(device, pool))).As(role);
    }

    private static RoleSwitch Switches(EmulatedDevice device, HybridPool pool) => new(DeviceClass.Parse(device.DeviceClass), ModelShape.Parse(pool.Actor),
        pool.Critic is null ? null : ModelShape.Parse(pool.Critic), pool.RewardModel is null ? null : ModelShape.Parse(pool.RewardModel), device.TensorParallel, pool.Devices);
}
