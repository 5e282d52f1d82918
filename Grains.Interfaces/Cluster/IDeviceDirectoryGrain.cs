namespace Grains.Interfaces.Cluster;

/// <summary>
/// The cluster's device ledger seen whole: every datacenter's partition (<see cref="IDevicePartitionGrain"/>)
/// read together, and drains sent to the partition of the drained silo. For admins and jobs (which devices a
/// job still holds); placement and device grains call their datacenter's partition, never this. A stateless
/// worker, key 0: each silo answers from its own activation.
/// </summary>
public interface IDeviceDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>Every lease in the cluster: the partitions of the datacenters of the active silos.</summary>
    Task<IReadOnlyList<DeviceLease>> Leases();

    /// <summary>Stops new leases on <paramref name="silo"/> (through its datacenter's partition); returns the holders still there.</summary>
    Task<IReadOnlyList<DeviceLease>> Drain(string silo);

    Task<IReadOnlyList<string>> DrainedSilos();
}
