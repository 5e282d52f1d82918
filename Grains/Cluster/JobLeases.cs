using Grains.Interfaces.Cluster;

namespace Grains.Cluster;

/// <summary>A finished job's device leases, waited for until they are back in the directory.</summary>
public static class JobLeases
{
    /// <summary>
    /// Waits (up to 10 s) until no lease is held by a grain of job <paramref name="job"/>: a vacated grain gives its
    /// lease back as it deactivates, just after, so a job submitted the moment this one is reported finished finds the devices free.
    /// </summary>
    public static async Task Released(IGrainFactory grains, string job)
    {
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);
        for (var i = 0; i < 200 && (await directory.Leases()).Any(l => l.Holder.Contains($"/{job}/")); i++) await Task.Delay(50);
    }
}
