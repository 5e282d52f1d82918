using Grains.Interfaces.Cluster;

namespace Grains.Cluster;

/// <summary>
/// The device directory's index over its leases: who holds each device, by silo. A reservation or a
/// confirmation looks a device up here instead of scanning every lease (measured: with 2,048 leases the
/// scans and their garbage were most of the directory's time while a pool of that size was placed).
/// </summary>
internal sealed class HeldDevices
{
    private readonly Dictionary<string, Dictionary<string, string>> bySilo = [];
    // Per silo, the device list last searched for a free device and how far into it every device is held:
    // searching each reservation from the list's start made placing a pool quadratic (2,048 grains on one
    // silo: two million look-ups). A list is known by reference; one batch of reservations carries one.
    private readonly Dictionary<string, (IReadOnlyList<string> Devices, int Held)> searched = [];

    public void Add(DeviceLease lease)
    {
        if (!bySilo.TryGetValue(lease.Silo, out var devices)) bySilo[lease.Silo] = devices = [];
        devices[lease.Device] = lease.Holder;
    }

    public void Remove(DeviceLease lease)
    {
        if (!bySilo.TryGetValue(lease.Silo, out var devices) || devices.GetValueOrDefault(lease.Device) != lease.Holder) return;
        devices.Remove(lease.Device);
        searched.Remove(lease.Silo);
        if (devices.Count == 0) bySilo.Remove(lease.Silo);
    }

    public string? HolderOf(string silo, string device) => bySilo.TryGetValue(silo, out var devices) ? devices.GetValueOrDefault(device) : null;

    /// <summary>The first device of <paramref name="devices"/> (the silo's list, in its order) that no one holds, or null.</summary>
    public string? FirstFree(string silo, IReadOnlyList<string> devices)
    {
        var i = searched.TryGetValue(silo, out var last) && ReferenceEquals(last.Devices, devices) ? last.Held : 0;
        while (i < devices.Count && HolderOf(silo, devices[i]) is not null) i++;
        searched[silo] = (devices, i);
        return i < devices.Count ? devices[i] : null;
    }

    public int CountOn(string silo) => bySilo.TryGetValue(silo, out var devices) ? devices.Count : 0;

    /// <summary>The holders on silos not in <paramref name="live"/>.</summary>
    public IReadOnlyList<string> HoldersOutside(IReadOnlySet<string> live) =>
        [.. bySilo.Where(s => !live.Contains(s.Key)).SelectMany(s => s.Value.Values)];
}
