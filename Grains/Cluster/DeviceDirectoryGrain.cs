using Grains.Interfaces.Cluster;
using Orleans.Concurrency;

namespace Grains.Cluster;

/// <summary>
/// The cluster's device ledger read across its datacenters' partitions (<see cref="DevicePartitionGrain"/>):
/// the partitions are those of the datacenters the active silos declare.
/// </summary>
[StatelessWorker]
public sealed class DeviceDirectoryGrain(IClusterMembershipService membership, SiloDeclarations metadata) : Grain, IDeviceDirectoryGrain
{
    public async Task<IReadOnlyList<DeviceLease>> Leases() => [.. (await Task.WhenAll(Partitions().Select(p => p.Leases()))).SelectMany(l => l)];

    public Task<IReadOnlyList<DeviceLease>> Drain(string silo) => Partition(SiloAddress.FromParsableString(silo)).Drain(silo);

    public async Task<IReadOnlyList<string>> DrainedSilos() => [.. (await Task.WhenAll(Partitions().Select(p => p.DrainedSilos()))).SelectMany(s => s)];

    private IDevicePartitionGrain Partition(SiloAddress silo) =>
        GrainFactory.GetGrain<IDevicePartitionGrain>(metadata.DatacenterOf(silo));

    private IEnumerable<IDevicePartitionGrain> Partitions() =>
        membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active)
            .Select(m => metadata.DatacenterOf(m.SiloAddress)).Distinct()
            .Select(d => GrainFactory.GetGrain<IDevicePartitionGrain>(d));
}
