using System.Collections.Concurrent;
using Grains.Interfaces.Cluster;
using Microsoft.Extensions.Logging;
using Orleans.Runtime.MembershipService.SiloMetadata;

namespace Grains.Cluster;

/// <summary>
/// Each silo's metadata (roles, devices, datacenter) as Orleans' cache has it, or, for a live silo the cache
/// has none of, as the silo itself gives it. Orleans fetches a joining silo's metadata once, when the
/// membership change reaches this silo; a fetch that fails then (the new silo not answering yet, measured under
/// load) is not tried again for two table-refresh periods and then only at the next membership change, so a
/// new generation silo could go unused for minutes. Here a silo with none is asked directly (one question at
/// a time, at most every <see cref="AskEvery"/>); until it answers it reads as declaring nothing, as before.
/// </summary>
public sealed class SiloDeclarations(ISiloMetadataCache cache, IGrainFactory grains, ILogger<SiloDeclarations> logger)
{
    private static readonly TimeSpan AskEvery = TimeSpan.FromSeconds(1);
    private readonly ConcurrentDictionary<SiloAddress, IReadOnlyDictionary<string, string>> answered = new();
    private readonly ConcurrentDictionary<SiloAddress, DateTime> asked = new();

    /// <summary>What <paramref name="silo"/> declared; empty while neither the cache nor the silo has said.</summary>
    public IReadOnlyDictionary<string, string> Of(SiloAddress silo)
    {
        var cached = cache.GetSiloMetadata(silo).Metadata;
        if (cached.Count > 0) return cached;
        if (answered.TryGetValue(silo, out var declared)) return declared;
        var now = DateTime.UtcNow;
        if (asked.TryGetValue(silo, out var last) && now - last < AskEvery) return cached;
        if (asked.TryAdd(silo, now) || asked.TryUpdate(silo, now, last)) _ = Ask(silo);
        return cached;
    }

    /// <summary>The datacenter <paramref name="silo"/> declares (<see cref="SiloMetadataKeys.DefaultDatacenter"/> when none).</summary>
    public string DatacenterOf(SiloAddress silo) => SiloMetadataKeys.DatacenterOf(Of(silo));

    private async Task Ask(SiloAddress silo)
    {
        try
        {
            answered[silo] = await grains.GetGrain<ISiloDeclarationGrain>(silo.ToParsableString()).Metadata();
            logger.LogInformation("silo {Silo}: its metadata, missing from Orleans' cache, was asked of the silo", silo);
        }
        catch (Exception e)
        {
            logger.LogDebug(e, "silo {Silo}: asking its metadata failed; asked again on a later read", silo);
        }
    }
}
