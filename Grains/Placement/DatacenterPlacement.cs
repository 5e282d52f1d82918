using Grains.Cluster;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Grains.Placement;

/// <summary>Places a grain keyed by a datacenter's name on a silo of that datacenter (the placing silo where it is one), or on any silo when none is.</summary>
[GenerateSerializer, Immutable]
public sealed class DatacenterPlacement : PlacementStrategy;

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DatacenterPlacementAttribute() : PlacementAttribute(new DatacenterPlacement());

public sealed class DatacenterPlacementDirector(SiloDeclarations metadata) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        var datacenter = target.GrainIdentity.Key.ToString();
        var silos = context.GetCompatibleSilos(target);
        var inside = silos.Where(s => metadata.DatacenterOf(s) == datacenter).ToArray();
        var pool = inside.Length > 0 ? inside : silos;
        return Task.FromResult(pool.Contains(context.LocalSilo) ? context.LocalSilo : pool[Random.Shared.Next(pool.Length)]);
    }
}
