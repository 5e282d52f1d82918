namespace Grains.Interfaces.Cluster;

/// <summary>What an admin sees of the cluster: every silo with its metadata, status, activations and device leases.</summary>
public interface IClusterInfoGrain : IGrainWithIntegerKey
{
    Task<IReadOnlyList<SiloInfo>> Silos();

    /// <summary>
    /// A supervisor's word that a silo's process is gone (it saw it end, as a container orchestrator does):
    /// membership declares it dead at once instead of after its missed probes. Refused for a silo not in
    /// the cluster or already dead. Returns whether membership took it.
    /// </summary>
    Task<bool> DeclareDead(string siloName);
}

/// <summary>One silo; <see cref="Activations"/> is -1 when the silo did not answer.</summary>
[GenerateSerializer, Immutable]
public sealed record SiloInfo(
    string Address, string Name, string Status, string Roles, IReadOnlyList<string> Devices, string DeviceClass, string Datacenter,
    int Activations, IReadOnlyList<DeviceLease> Leases, bool Drained);
