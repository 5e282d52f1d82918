namespace Grains.Interfaces.Cluster;

/// <summary>
/// The cluster's ledger of device ownership: which device grain holds which device on which silo. A
/// device is held by at most one holder; a drained silo gets no new holders. One activation, key 0.
/// A holder is a device grain, or a name that several grains share a device under (the pipeline stages
/// a schedule puts on one device): those grains are its members, and the device is free when the last
/// of them leaves.
/// </summary>
public interface IDeviceDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>
    /// Reservations in order, written to the ledger once: what a silo's placements and activations asked for
    /// while its previous call was under way (<c>Grains.Placement.LeaseCalls</c>). Each picks a free device
    /// for its holder among its candidates (or keeps the one it holds; its member: the grain joining a shared
    /// holder), and is answered on its own.
    /// </summary>
    Task<LeaseAnswer[]> ReserveAll(LeaseRequest[] requests);

    /// <summary>The holders' leases, null for one that has none.</summary>
    Task<DeviceLease?[]> LookupAll(string[] holders);

    /// <summary>Re-records a holder's lease (after this directory was re-activated); false if its device went to another holder.</summary>
    Task<bool> Confirm(DeviceLease lease, string? member = null);

    /// <summary>The holder (or one member of a shared holder) leaves its device.</summary>
    Task Release(string holder, string? member = null);

    /// <summary>Stops new leases on <paramref name="silo"/>; returns the holders still there.</summary>
    Task<IReadOnlyList<DeviceLease>> Drain(string silo);

    Task<IReadOnlyList<string>> DrainedSilos();

    Task<IReadOnlyList<DeviceLease>> Leases();
}

/// <summary>One candidate silo and its devices, as its metadata declares them.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloDevices(string Silo, IReadOnlyList<string> Devices);

[GenerateSerializer, Immutable]
public sealed record DeviceLease(string Holder, string Role, string Silo, string Device);

/// <summary>One reservation: who asks for a device of which role, among which silos' devices.</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseRequest(string Holder, string Role, IReadOnlyList<SiloDevices> Candidates, string? Member = null);

/// <summary>A reservation's lease, or why there is none (no free device).</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseAnswer(DeviceLease? Lease, string? Refusal);
