using Grains.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Rl;

/// <summary>
/// A device grain whose tensor work runs on its own <see cref="DeviceThread"/>: the thread is made on
/// first use, its busy seconds are the device's usage, and on deactivation the subclass's tensors are
/// freed on it before it stops.
/// </summary>
public abstract class TensorDeviceGrain : DeviceGrain
{
    private DeviceThread? device;

    protected DeviceThread Work => device ??= new DeviceThread($"{GetType().Name} {this.GetPrimaryKeyString()}");

    /// <summary>Frees the grain's tensors; runs on the device thread.</summary>
    protected abstract void ReleaseTensors();

    public Task<DeviceUsage> TakeUsage() => Task.FromResult(new DeviceUsage(this.GetPrimaryKeyString(), Lease.Silo, Lease.Device, device?.TakeBusySeconds() ?? 0));

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (device is not null)
        {
            await device.Run(ReleaseTensors);
            device.Dispose();
        }
        await base.OnDeactivateAsync(reason, cancellationToken);
    }
}
