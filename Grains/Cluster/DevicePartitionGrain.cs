using Grains.Interfaces.Cluster;
using Grains.Placement;
using Grains.Storage;

namespace Grains.Cluster;

/// <summary>
/// Holds one datacenter's device leases (its key), kept in the ledger: a partition re-activated after its silo's
/// loss reads them back instead of handing out devices still held on the surviving silos (measured: in an
/// hour's soak, a lost training silo's replicas were placed again on devices the other machine's replicas
/// held, which the survivors' next confirmation answered by deactivating them, state and all). Device
/// grains also confirm their lease every few seconds, which re-records one a write did not reach.
/// </summary>
[DatacenterPlacement]
public sealed class DevicePartitionGrain(
    [PersistentState("devices", Ledger.Storage)] IPersistentState<DevicePartitionState> state,
    IClusterMembershipService membership) : Grain, IDevicePartitionGrain
{
    private Dictionary<string, DeviceLease> Leased => state.State.Leases;
    private HashSet<string> Drained => state.State.Drained;
    private Dictionary<string, HashSet<string>> Members => state.State.Members;
    private bool changed;
    private string Datacenter => this.GetPrimaryKeyString();
    private readonly HeldDevices held = new();
    // The membership version the leases were last pruned at: a reservation prunes only when it changed.
    private MembershipVersion pruned = MembershipVersion.MinValue;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        foreach (var lease in Leased.Values) held.Add(lease);
        // Leases and drains of silos that left while no directory was active died with them.
        var live = PruneLeft();
        changed |= Drained.RemoveWhere(s => !live.Contains(s)) > 0;
        await Save();
        await base.OnActivateAsync(cancellationToken);
    }

    public async Task<LeaseAnswer[]> ReserveAll(LeaseRequest[] requests)
    {
        try
        {
            return [.. requests.Select(r =>
            {
                try
                {
                    var lease = Lease(r.Holder, r.Role, r.Candidates);
                    Join(r.Holder, r.Member);
                    return new LeaseAnswer(lease, null);
                }
                catch (NoFreeDeviceException e)
                {
                    return new LeaseAnswer(null, e.Message);
                }
            })];
        }
        finally
        {
            await Save();
        }
    }

    public Task<DeviceLease?[]> LookupAll(string[] holders) => Task.FromResult<DeviceLease?[]>([.. holders.Select(h => Leased.GetValueOrDefault(h))]);

    private DeviceLease Lease(string holder, string role, IReadOnlyList<SiloDevices> candidates)
    {
        // Leases on silos that are no longer active died with them.
        if (membership.CurrentSnapshot.Version != pruned) PruneLeft();

        if (Leased.TryGetValue(holder, out var current))
        {
            if (!Drained.Contains(current.Silo)) return current;
            Forget(holder);
        }
        // The silo with the most free devices, its first free one (a silo's devices are held in its list's order).
        foreach (var (silo, devices) in candidates
            .Where(c => !Drained.Contains(c.Silo))
            .Select(c => (c.Silo, c.Devices))
            .OrderByDescending(c => c.Devices.Count - held.CountOn(c.Silo)).ThenBy(c => c.Silo, StringComparer.Ordinal))
        {
            if (held.FirstFree(silo, devices) is { } free) return Put(new DeviceLease(holder, role, silo, free, Datacenter));
        }
        var detail = string.Join("; ", candidates.Select(c =>
            $"{c.Silo}: {c.Devices.Count(d => held.HolderOf(c.Silo, d) is not null)}/{c.Devices.Count} held{(Drained.Contains(c.Silo) ? ", drained" : "")}"));
        throw new NoFreeDeviceException($"cannot place {holder}: no free device for the '{role}' role ({detail})");
    }

    private DeviceLease Put(DeviceLease lease)
    {
        if (Leased.Remove(lease.Holder, out var before)) held.Remove(before);
        Leased[lease.Holder] = lease;
        held.Add(lease);
        changed = true;
        return lease;
    }

    /// <summary>Forgets the leases on silos that are no longer active; returns the active ones.</summary>
    private HashSet<string> PruneLeft()
    {
        var snapshot = membership.CurrentSnapshot;
        var live = snapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToParsableString()).ToHashSet();
        foreach (var stale in held.HoldersOutside(live)) Forget(stale);
        pruned = snapshot.Version;
        return live;
    }

    private void Join(string holder, string? member)
    {
        if (member is null || member == holder) return;
        if (!Members.TryGetValue(holder, out var set)) Members[holder] = set = [];
        changed |= set.Add(member);
    }

    private void Forget(string holder)
    {
        if (Leased.Remove(holder, out var lease))
        {
            held.Remove(lease);
            changed = true;
        }
        changed |= Members.Remove(holder);
    }

    /// <summary>Writes the leases when a call changed them, before it answers: a lease handed out is one the next activation knows.</summary>
    private async Task Save()
    {
        if (!changed) return;
        await state.WriteStateAsync();
        changed = false;
    }

    /// <summary>Re-records a holder's lease (one a write did not reach); false if its device went to another holder.</summary>
    public async Task<bool> Confirm(DeviceLease lease, string? member = null)
    {
        var conflict = held.HolderOf(lease.Silo, lease.Device) is { } other && other != lease.Holder;
        if (!conflict)
        {
            if (Leased.GetValueOrDefault(lease.Holder) != lease) Put(lease);
            Join(lease.Holder, member);
            await Save();
        }
        return !conflict;
    }

    public async Task Release(string holder, string? member = null)
    {
        Leave(new LeaseRelease(holder, member));
        await Save();
    }

    public async Task<bool[]> ReleaseAll(LeaseRelease[] releases)
    {
        try
        {
            return [.. releases.Select(Leave)];
        }
        finally
        {
            await Save();
        }
    }

    /// <summary>Whether the holder's device is free now: a shared device stays held while any of its members is still there.</summary>
    private bool Leave(LeaseRelease release)
    {
        if (release.Member is { } member && Members.TryGetValue(release.Holder, out var set) && set.Remove(member) && set.Count > 0)
        {
            changed = true;
            return false;
        }
        Forget(release.Holder);
        return true;
    }

    public async Task<IReadOnlyList<DeviceLease>> Drain(string silo)
    {
        changed |= Drained.Add(silo);
        await Save();
        var holders = Leased.Values.Where(l => l.Silo == silo).ToList();
        foreach (var grain in holders.SelectMany(l => Members.TryGetValue(l.Holder, out var set) ? [.. set] : new[] { l.Holder }))
        {
            await GrainFactory.GetGrain(GrainId.Parse(grain)).AsReference<IDeviceGrain>().Drain();
        }
        return holders;
    }

    public Task<IReadOnlyList<string>> DrainedSilos() => Task.FromResult<IReadOnlyList<string>>([.. Drained]);

    public Task<IReadOnlyList<DeviceLease>> Leases() => Task.FromResult<IReadOnlyList<DeviceLease>>([.. Leased.Values]);
}

/// <summary>A datacenter's device partition's record in the ledger.</summary>
[GenerateSerializer]
public sealed class DevicePartitionState
{
    [Id(0)] public Dictionary<string, DeviceLease> Leases { get; set; } = [];
    [Id(1)] public HashSet<string> Drained { get; set; } = [];
    [Id(2)] public Dictionary<string, HashSet<string>> Members { get; set; } = [];
}
