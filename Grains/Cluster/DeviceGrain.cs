using Grains.Interfaces.Cluster;

namespace Grains.Cluster;

/// <summary>
/// Base of every grain that owns a device (generation workers, pipeline stages): it activates only
/// where the device directory leased it a device, keeps that lease confirmed, and gives it back when
/// it deactivates. Subclasses carry a <see cref="Placement.DevicePlacementAttribute"/>.
/// </summary>
public abstract class DeviceGrain : Grain, IDeviceGrain
{
    private static readonly TimeSpan ConfirmEvery = TimeSpan.FromSeconds(10);
    private DeviceLease? lease;

    /// <summary>The device this grain owns.</summary>
    protected DeviceLease Lease => lease ?? throw new InvalidOperationException("the grain has no device lease before activation");

    private IDeviceDirectoryGrain Directory => GrainFactory.GetGrain<IDeviceDirectoryGrain>(0);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var holder = this.GetGrainId().ToString();
        var here = GrainContext.Address.SiloAddress!.ToParsableString();
        var leased = await Directory.Lookup(holder);
        if (leased is null || leased.Silo != here)
        {
            throw new InvalidOperationException($"{holder} activated on {here} without a device lease there (lease: {leased?.Silo ?? "none"})");
        }
        lease = leased;
        this.RegisterGrainTimer(async _ =>
        {
            if (!await Directory.Confirm(Lease)) this.DeactivateOnIdle();
        }, new GrainTimerCreationOptions(ConfirmEvery, ConfirmEvery) { Interleave = true });
        await base.OnActivateAsync(cancellationToken);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (lease is not null) await Directory.Release(lease.Holder);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    public Task<DeviceLease> Device() => Task.FromResult(Lease);

    public Task Vacate()
    {
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
