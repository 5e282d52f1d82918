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

    public void Add(DeviceLease lease)
    {
        if (!bySilo.TryGetValue(lease.Silo, out var devices)) bySilo[lease.Silo] = devices = [];
        devices[lease.Device] = lease.Holder;
    }

    public void Remove(DeviceLease lease)
    {
        if (!bySilo.TryGetValue(lease.Silo, out var devices) || devices.GetValueOrDefault(lease.Device) != lease.Holder) return;
        devices.Remove(lease.Device);
        if (devices.Count == 0) bySilo.Remove(lease.Silo);
    }

    public string? HolderOf(string silo, string device) => bySilo.TryGetValue(silo, out var devices) ? devices.GetValueOrDefault(device) : null;

    public int CountOn(string silo) => bySilo.TryGetValue(silo, out var devices) ? devices.Count : 0;

    /// <summary>The holders on silos not in <paramref name="live"/>.</summary>
    public IReadOnlyList<string> HoldersOutside(IReadOnlySet<string> live) =>
        [.. bySilo.Where(s => !live.Contains(s.Key)).SelectMany(s => s.Value.Values)];
}
