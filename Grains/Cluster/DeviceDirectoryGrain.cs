using Grains.Interfaces.Cluster;
using Grains.Storage;

namespace Grains.Cluster;

/// <summary>
/// Holds the cluster's device leases, kept in the ledger: a directory re-activated after its silo's loss
/// reads them back instead of handing out devices still held on the surviving silos (measured: in an
/// hour's soak, a lost training silo's replicas were placed again on devices the other machine's replicas
/// held, which the survivors' next confirmation answered by deactivating them, state and all). Device
/// grains also confirm their lease every few seconds, which re-records one a write did not reach.
/// </summary>
public sealed class DeviceDirectoryGrain(
    [PersistentState("devices", Ledger.Storage)] IPersistentState<DeviceDirectoryState> state,
    IClusterMembershipService membership) : Grain, IDeviceDirectoryGrain
{
    private Dictionary<string, DeviceLease> Leased => state.State.Leases;
    private HashSet<string> Drained => state.State.Drained;
    private Dictionary<string, HashSet<string>> Members => state.State.Members;
    private bool changed;

    public override async Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Leases and drains of silos that left while no directory was active died with them.
        var live = LiveSilos();
        foreach (var stale in Leased.Values.Where(l => !live.Contains(l.Silo)).ToList()) Forget(stale.Holder);
        changed |= Drained.RemoveWhere(s => !live.Contains(s)) > 0;
        await Save();
        await base.OnActivateAsync(cancellationToken);
    }

    public async Task<DeviceLease> Reserve(string holder, string role, IReadOnlyList<SiloDevices> candidates, string? member = null)
    {
        try
        {
            var lease = Lease(holder, role, candidates);
            Join(holder, member);
            return lease;
        }
        finally
        {
            await Save();
        }
    }

    private DeviceLease Lease(string holder, string role, IReadOnlyList<SiloDevices> candidates)
    {
        // Leases on silos that are no longer active died with them.
        var live = LiveSilos();
        foreach (var stale in Leased.Values.Where(l => !live.Contains(l.Silo)).ToList()) Forget(stale.Holder);

        if (Leased.TryGetValue(holder, out var held))
        {
            if (!Drained.Contains(held.Silo)) return held;
            Forget(holder);
        }
        var taken = Leased.Values.Select(l => (l.Silo, l.Device)).ToHashSet();
        var best = candidates
            .Where(c => !Drained.Contains(c.Silo))
            .Select(c => (c.Silo, Free: c.Devices.Where(d => !taken.Contains((c.Silo, d))).ToList()))
            .Where(c => c.Free.Count > 0)
            .OrderByDescending(c => c.Free.Count).ThenBy(c => c.Silo, StringComparer.Ordinal)
            .FirstOrDefault();
        if (best.Free is null)
        {
            var detail = string.Join("; ", candidates.Select(c =>
                $"{c.Silo}: {c.Devices.Count(d => taken.Contains((c.Silo, d)))}/{c.Devices.Count} held{(Drained.Contains(c.Silo) ? ", drained" : "")}"));
            throw new NoFreeDeviceException($"cannot place {holder}: no free device for the '{role}' role ({detail})");
        }
        changed = true;
        return Leased[holder] = new DeviceLease(holder, role, best.Silo, best.Free[0]);
    }

    private HashSet<string> LiveSilos() =>
        membership.CurrentSnapshot.Members.Values.Where(m => m.Status == SiloStatus.Active).Select(m => m.SiloAddress.ToParsableString()).ToHashSet();

    private void Join(string holder, string? member)
    {
        if (member is null || member == holder) return;
        if (!Members.TryGetValue(holder, out var set)) Members[holder] = set = [];
        changed |= set.Add(member);
    }

    private void Forget(string holder)
    {
        changed |= Leased.Remove(holder) | Members.Remove(holder);
    }

    /// <summary>Writes the leases when a call changed them, before it answers: a lease handed out is one the next activation knows.</summary>
    private async Task Save()
    {
        if (!changed) return;
        await state.WriteStateAsync();
        changed = false;
    }

    public Task<DeviceLease?> Lookup(string holder) => Task.FromResult(Leased.GetValueOrDefault(holder));

    /// <summary>Re-records a holder's lease (one a write did not reach); false if its device went to another holder.</summary>
    public async Task<bool> Confirm(DeviceLease lease, string? member = null)
    {
        var conflict = Leased.Values.Any(l => l.Holder != lease.Holder && l.Silo == lease.Silo && l.Device == lease.Device);
        if (!conflict)
        {
            if (Leased.GetValueOrDefault(lease.Holder) != lease)
            {
                Leased[lease.Holder] = lease;
                changed = true;
            }
            Join(lease.Holder, member);
            await Save();
        }
        return !conflict;
    }

    public async Task Release(string holder, string? member = null)
    {
        // A shared device stays held while any of its members is still there.
        if (member is not null && Members.TryGetValue(holder, out var set) && set.Remove(member) && set.Count > 0)
        {
            changed = true;
        }
        else
        {
            Forget(holder);
        }
        await Save();
    }

    public async Task<IReadOnlyList<DeviceLease>> Drain(string silo)
    {
        changed |= Drained.Add(silo);
        await Save();
        var holders = Leased.Values.Where(l => l.Silo == silo).ToList();
        foreach (var grain in holders.SelectMany(l => Members.TryGetValue(l.Holder, out var set) ? [.. set] : new[] { l.Holder }))
        {
            await GrainFactory.GetGrain(GrainId.Parse(grain)).AsReference<IDeviceGrain>().Vacate();
        }
        return holders;
    }

    public Task<IReadOnlyList<string>> DrainedSilos() => Task.FromResult<IReadOnlyList<string>>([.. Drained]);

    public Task<IReadOnlyList<DeviceLease>> Leases() => Task.FromResult<IReadOnlyList<DeviceLease>>([.. Leased.Values]);
}

/// <summary>The device directory's record in the ledger.</summary>
[GenerateSerializer]
public sealed class DeviceDirectoryState
{
    [Id(0)] public Dictionary<string, DeviceLease> Leases { get; set; } = [];
    [Id(1)] public HashSet<string> Drained { get; set; } = [];
    [Id(2)] public Dictionary<string, HashSet<string>> Members { get; set; } = [];
}
