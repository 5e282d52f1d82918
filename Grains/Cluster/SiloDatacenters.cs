using Grains.Interfaces.Cluster;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Grains.Cluster;

public static class SiloDatacenters
{
    /// <summary>The datacenter <paramref name="silo"/>'s metadata declares (<see cref="SiloMetadataKeys.DefaultDatacenter"/> when none).</summary>
    public static string DatacenterOf(this ISiloMetadataCache metadata, SiloAddress silo) => SiloMetadataKeys.DatacenterOf(metadata.GetSiloMetadata(silo).Metadata);
}
