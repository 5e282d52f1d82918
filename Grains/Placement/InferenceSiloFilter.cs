using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Grains.Placement;

/// <summary>
/// Keeps a grain on silos that serve the inference role. With <c>[StatelessWorker]</c> this makes the
/// scoring models (reference, reward, critic inference): replicated on demand, only where inference runs.
/// </summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class InferenceSilosOnlyAttribute() : PlacementFilterAttribute(new InferenceSiloFilter());

[GenerateSerializer, Immutable]
public sealed class InferenceSiloFilter : PlacementFilterStrategy
{
    public InferenceSiloFilter() : base(order: 0) { }
}

public sealed class InferenceSiloFilterDirector(SiloDeclarations metadata) : IPlacementFilterDirector
{
    public IEnumerable<SiloAddress> Filter(PlacementFilterStrategy filterStrategy, PlacementTarget target, IEnumerable<SiloAddress> silos)
    {
        var candidates = silos.ToList();
        var serving = candidates.Where(s => metadata.Of(s).TryGetValue(SiloMetadataKeys.Roles, out var roles)
            && roles.Split(',', StringSplitOptions.TrimEntries).Contains(SiloRoles.Inference)).ToList();
        return serving.Count > 0
            ? serving
            : throw new NoSiloForRoleException($"cannot place {target.GrainIdentity}: no live silo serves the '{SiloRoles.Inference}' role ({candidates.Count} silos checked)");
    }
}
