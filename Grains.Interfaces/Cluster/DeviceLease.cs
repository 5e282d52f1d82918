namespace Grains.Interfaces.Cluster;

/// <summary>One candidate silo, its devices as its metadata declares them, and its datacenter (whose partition leases them).</summary>
[GenerateSerializer, Immutable]
public sealed record SiloDevices(string Silo, IReadOnlyList<string> Devices, string Datacenter = SiloMetadataKeys.DefaultDatacenter);

/// <summary>A device of a silo held by a holder for a role; <paramref name="Datacenter"/>: the silo's, whose partition keeps the lease.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceLease(string Holder, string Role, string Silo, string Device, string Datacenter = SiloMetadataKeys.DefaultDatacenter);

/// <summary>One reservation: who asks for a device of which role, among which silos' devices.</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseRequest(string Holder, string Role, IReadOnlyList<SiloDevices> Candidates, string? Member = null);

/// <summary>A reservation's lease, or why there is none (no free device).</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseAnswer(DeviceLease? Lease, string? Refusal);

/// <summary>A holder (or one member of a shared holder) leaving its device.</summary>
[GenerateSerializer, Immutable]
public sealed record LeaseRelease(string Holder, string? Member = null);
