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
    /// <summary>Picks a free device for <paramref name="holder"/> among the candidates (or returns the one it holds); <paramref name="member"/>: the grain joining a shared holder.</summary>
    Task<DeviceLease> Reserve(string holder, string role, IReadOnlyList<SiloDevices> candidates, string? member = null);

    /// <summary>The lease of <paramref name="holder"/>, if it has one.</summary>
    Task<DeviceLease?> Lookup(string holder);

    /// <summary>
    /// Several reservations in one call, in order, written to the ledger once: what a silo's placements and
    /// activations asked for while its previous call was under way. Each is answered on its own.
    /// </summary>
    Task<LeaseAnswer[]> ReserveAll(LeaseRequest[] requests);

    /// <summary>Several holders' leases in one call.</summary>
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

/// <summary>A reservation: <see cref="IDeviceDirectoryGrain.Reserve"/>'s arguments.</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseRequest(string Holder, string Role, IReadOnlyList<SiloDevices> Candidates, string? Member = null);

/// <summary>A reservation's lease, or why there is none (no free device).</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseAnswer(DeviceLease? Lease, string? Refusal);
