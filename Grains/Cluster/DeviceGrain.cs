using Grains.Interfaces.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Grains.Cluster;

/// <summary>
/// Base of every grain that owns a device (generation workers, pipeline stages): it activates only
/// where its datacenter's device partition leased it a device, keeps that lease confirmed, and gives it back when
/// it deactivates. Subclasses carry a <see cref="Placement.DevicePlacementAttribute"/>.
/// </summary>
public abstract class DeviceGrain : Grain, IDeviceGrain
{
    private static readonly TimeSpan ConfirmEvery = TimeSpan.FromSeconds(10);
    private DeviceLease? lease;
    private IDevicePartitionGrain? partition;

    /// <summary>The device this grain owns.</summary>
    protected DeviceLease Lease => lease ?? throw new InvalidOperationException("the grain has no device lease before activation");

    /// <summary>The partition of the datacenter the lease is in (its reference resolved once: GetGrain reflects over the interface).</summary>
    private IDevicePartitionGrain Partition => partition ??= GrainFactory.GetGrain<IDevicePartitionGrain>(Lease.Datacenter);

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        var holder = Placement.LeaseHolder.Of(this.GetGrainId());
        var member = this.GetGrainId().ToString();
        var here = GrainContext.Address.SiloAddress!.ToParsableString();
        var calls = ServiceProvider.GetRequiredService<Placement.LeaseCalls>();
        var declared = ServiceProvider.GetRequiredService<SiloDeclarations>().Of(GrainContext.Address.SiloAddress);
        var datacenter = SiloMetadataKeys.DatacenterOf(declared);
        // Placed from this silo, the lease is already here; otherwise this datacenter's partition says what it leased.
        var leased = calls.TakeReserved(member, here) ?? await calls.Lookup(holder, datacenter);
        if (leased is null || leased.Silo != here)
        {
            // Orleans may re-activate a grain where a cached address points, without asking the placement
            // director: then the grain asks for a device here itself, and fails as placement would (no role,
            // no free device, drained) when it cannot have one.
            var role = GetType().GetCustomAttributes(typeof(Placement.DevicePlacementAttribute), inherit: true)
                .Cast<Placement.DevicePlacementAttribute>().Single().PlacementStrategy is Placement.DevicePlacementStrategy s ? s.Role : "";
            if (!declared.TryGetValue(SiloMetadataKeys.Roles, out var roles) || !roles.Split(',', StringSplitOptions.TrimEntries).Contains(role))
            {
                throw new InvalidOperationException($"{holder} cannot run on {here}: it does not serve the '{role}' role");
            }
            leased = await calls.Reserve(new LeaseRequest(holder, role, [new SiloDevices(here, DeviceSpec.Parse(declared[SiloMetadataKeys.Devices]), datacenter)], member));
        }
        lease = leased;
        this.RegisterGrainTimer(async _ =>
        {
            if (await Partition.Confirm(Lease, this.GetGrainId().ToString())) return;
            ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger<DeviceGrain>().LogWarning(
                "{Grain} deactivates: the device partition leased its device {Device} on {Silo} to another holder", this.GetGrainId(), Lease.Device, Lease.Silo);
            this.DeactivateOnIdle();
        }, new GrainTimerCreationOptions(ConfirmEvery, ConfirmEvery) { Interleave = true });
        await base.OnActivateAsync(cancellationToken);
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        // When the silo shuts down, the partition prunes its leases as it leaves the membership; asking
        // a partition that may be going down with it would only fail.
        if (lease is not null && reason.ReasonCode != DeactivationReasonCode.ShuttingDown)
        {
            await ServiceProvider.GetRequiredService<Placement.LeaseCalls>().Release(lease.Holder, this.GetGrainId().ToString(), lease.Datacenter);
        }
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    public Task<DeviceLease> Device() => Task.FromResult(Lease);

    public Task Vacate()
    {
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }

    public virtual Task Drain() => Vacate();
}
