using Grains.Interfaces.Cluster;

namespace Grains.Cluster;

/// <summary>
/// Holds the cluster's device leases in memory. Device grains confirm their lease when they activate
/// and every few seconds after, so a directory that lost its silo is rebuilt by the holders themselves.
/// </summary>
public sealed class DeviceDirectoryGrain(IClusterMembershipService membership) : Grain, IDeviceDirectoryGrain
{
    private readonly Dictionary<string, DeviceLease> leases = [];
    private readonly HashSet<string> drained = [];
    private readonly Dictionary<string, HashSet<string>> members = [];

    public Task<DeviceLease> Reserve(string holder, string role, IReadOnlyList<SiloDevices> candidates, string? member = null)
    {
        var lease = Lease(holder, role, candidates);
        Join(holder, member);
        return Task.FromResult(lease);
    }

    private DeviceLease Lease(string holder, string role, IReadOnlyList<SiloDevices> candidates)
    {
        // Leases on silos that are no longer active died with them.
        var live = membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToParsableString()).ToHashSet();
        foreach (var stale in leases.Values.Where(l => !live.Contains(l.Silo)).ToList()) Forget(stale.Holder);

        if (leases.TryGetValue(holder, out var held))
        {
            if (!drained.Contains(held.Silo)) return held;
            Forget(holder);
        }
        var taken = leases.Values.Select(l => (l.Silo, l.Device)).ToHashSet();
        var best = candidates
            .Where(c => !drained.Contains(c.Silo))
            .Select(c => (c.Silo, Free: c.Devices.Where(d => !taken.Contains((c.Silo, d))).ToList()))
            .Where(c => c.Free.Count > 0)
            .OrderByDescending(c => c.Free.Count).ThenBy(c => c.Silo, StringComparer.Ordinal)
            .FirstOrDefault();
        if (best.Free is null)
        {
            var detail = string.Join("; ", candidates.Select(c =>
                $"{c.Silo}: {c.Devices.Count(d => taken.Contains((c.Silo, d)))}/{c.Devices.Count} held{(drained.Contains(c.Silo) ? ", drained" : "")}"));
            throw new NoFreeDeviceException($"cannot place {holder}: no free device for the '{role}' role ({detail})");
        }
        return leases[holder] = new DeviceLease(holder, role, best.Silo, best.Free[0]);
    }

    private void Join(string holder, string? member)
    {
        if (member is null || member == holder) return;
        if (!members.TryGetValue(holder, out var set)) members[holder] = set = [];
        set.Add(member);
    }

    private void Forget(string holder)
    {
        leases.Remove(holder);
        members.Remove(holder);
    }

    public Task<DeviceLease?> Lookup(string holder) => Task.FromResult(leases.GetValueOrDefault(holder));

    /// <summary>Re-records a holder's lease (after this directory was re-activated); false if its device went to another holder.</summary>
    public Task<bool> Confirm(DeviceLease lease, string? member = null)
    {
        var conflict = leases.Values.Any(l => l.Holder != lease.Holder && l.Silo == lease.Silo && l.Device == lease.Device);
        if (!conflict)
        {
            leases[lease.Holder] = lease;
            Join(lease.Holder, member);
        }
        return Task.FromResult(!conflict);
    }

    public Task Release(string holder, string? member = null)
    {
        // A shared device stays held while any of its members is still there.
        if (member is not null && members.TryGetValue(holder, out var set) && set.Remove(member) && set.Count > 0) return Task.CompletedTask;
        Forget(holder);
        return Task.CompletedTask;
    }

    public async Task<IReadOnlyList<DeviceLease>> Drain(string silo)
    {
        drained.Add(silo);
        var holders = leases.Values.Where(l => l.Silo == silo).ToList();
        foreach (var grain in holders.SelectMany(l => members.TryGetValue(l.Holder, out var set) ? [.. set] : new[] { l.Holder }))
        {
            await GrainFactory.GetGrain(GrainId.Parse(grain)).AsReference<IDeviceGrain>().Vacate();
        }
        return holders;
    }

    public Task<IReadOnlyList<string>> DrainedSilos() => Task.FromResult<IReadOnlyList<string>>([.. drained]);

    public Task<IReadOnlyList<DeviceLease>> Leases() => Task.FromResult<IReadOnlyList<DeviceLease>>([.. leases.Values]);
}
