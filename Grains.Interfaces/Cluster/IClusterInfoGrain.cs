namespace Grains.Interfaces.Cluster;

/// <summary>What an admin sees of the cluster: every silo with its metadata, status, activations and device leases.</summary>
public interface IClusterInfoGrain : IGrainWithIntegerKey
{
    Task<IReadOnlyList<SiloInfo>> Silos();
}

/// <summary>One silo; <see cref="Activations"/> is -1 when the silo did not answer.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloInfo(
    string Address, string Name, string Status, string Roles, IReadOnlyList<string> Devices, string DeviceClass, string Datacenter,
    int Activations, IReadOnlyList<DeviceLease> Leases, bool Drained);
