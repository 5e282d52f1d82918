using Grains.Interfaces.Cluster;
using Orleans.Concurrency;

namespace Grains.Cluster;

/// <summary>Joins membership, silo metadata, activation counts and device leases into one view.</summary>
[StatelessWorker]
public sealed class ClusterInfoGrain(SiloDeclarations metadata, IClusterMembershipService membership) : Grain, IClusterInfoGrain
{
    // A silo that died but is still listed must not hold up the whole answer.
    private static readonly TimeSpan StatisticsTimeout = TimeSpan.FromSeconds(2);

    public async Task<IReadOnlyList<SiloInfo>> Silos()
    {
        var management = GrainFactory.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(onlyActive: false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var activations = new Dictionary<SiloAddress, int>();
        foreach (var silo in active)
        {
            try
            {
                activations[silo] = (await management.GetSimpleGrainStatistics([silo]).WaitAsync(StatisticsTimeout)).Sum(s => s.ActivationCount);
            }
            catch (Exception e) when (e is SiloUnavailableException or OrleansMessageRejectionException or TimeoutException)
            {
                // A silo that died but is not yet declared dead: membership still lists it as active.
                activations[silo] = -1;
            }
        }
        var directory = GrainFactory.GetGrain<IDeviceDirectoryGrain>(0);
        var leases = await directory.Leases();
        var drained = (await directory.DrainedSilos()).ToHashSet();

        return hosts.OrderBy(h => h.SiloName).Select(h =>
        {
            var address = h.SiloAddress.ToParsableString();
            var declared = metadata.Of(h.SiloAddress);
            string Get(string key) => declared.TryGetValue(key, out var value) ? value : "";
            return new SiloInfo(
                address, h.SiloName, h.Status.ToString(), Get(SiloMetadataKeys.Roles),
                Get(SiloMetadataKeys.Devices) is { Length: > 0 } devices ? DeviceSpec.Parse(devices) : [],
                Get(SiloMetadataKeys.DeviceClass), Get(SiloMetadataKeys.Datacenter),
                activations.GetValueOrDefault(h.SiloAddress), leases.Where(l => l.Silo == address).ToList(), drained.Contains(address));
        }).ToList();
    }

    public async Task<bool> DeclareDead(string siloName)
    {
        // A silo that died while joining is listed as joining: it is declared dead all the same.
        var hosts = (await GrainFactory.GetGrain<IManagementGrain>(0).GetDetailedHosts(onlyActive: false))
            .Where(h => h.Status is SiloStatus.Active or SiloStatus.Joining).ToList();
        var silo = hosts.FirstOrDefault(h => h.SiloName == siloName)
            ?? throw new ArgumentException($"no active or joining silo is named {Interfaces.Jobs.Quoted.Of(siloName)} (such silos: {string.Join(", ", hosts.Select(h => h.SiloName).Order())})");
        return await membership.TryKill(silo.SiloAddress);
    }
}
