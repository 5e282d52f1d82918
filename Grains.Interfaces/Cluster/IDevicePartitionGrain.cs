namespace Grains.Interfaces.Cluster;

/// <summary>
/// The ledger of one datacenter's devices (key: the datacenter's name, as its silos declare it): which
/// device grain holds which device on which of its silos. A device is held by at most one holder; a drained
/// silo gets no new holders. A holder is a device grain, or a name that several grains share a device under
/// (the pipeline stages a schedule puts on one device): those grains are its members, and the device is free
/// when the last of them leaves. One activation per datacenter, placed on one of its silos, so growing or
/// shrinking one datacenter's pools neither waits on another's nor crosses the link between them.
/// </summary>
public interface IDevicePartitionGrain : IGrainWithStringKey
{
    /// <summary>
    /// Reservations in order, written to the ledger once: what a silo's placements and activations asked for
    /// while its previous call was under way (<c>Grains.Placement.LeaseCalls</c>). Each picks a free device
    /// for its holder among its candidates (or keeps the one it holds; its member: the grain joining a shared
    /// holder), and is answered on its own.
    /// </summary>
    Task<LeaseAnswer[]> ReserveAll(LeaseRequest[] requests);

    /// <summary>The holders' leases in this datacenter, null for one that has none here.</summary>
    Task<DeviceLease?[]> LookupAll(string[] holders);

    /// <summary>Re-records a holder's lease (after this partition was re-activated); false if its device went to another holder.</summary>
    Task<bool> Confirm(DeviceLease lease, string? member = null);

    /// <summary>The holder (or one member of a shared holder) leaves its device.</summary>
    Task Release(string holder, string? member = null);

    /// <summary>
    /// Releases in order, written to the ledger once: what a silo's deactivating device grains asked while its
    /// previous call was under way. Each answer says whether that holder's device is free now (false while
    /// other members still share it).
    /// </summary>
    Task<bool[]> ReleaseAll(LeaseRelease[] releases);

    /// <summary>Stops new leases on <paramref name="silo"/>; returns the holders still there.</summary>
    Task<IReadOnlyList<DeviceLease>> Drain(string silo);

    Task<IReadOnlyList<string>> DrainedSilos();

    Task<IReadOnlyList<DeviceLease>> Leases();
}
