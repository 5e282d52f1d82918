using Grains.Interfaces.Cluster;
using Grains.Placement;
using Orleans.Concurrency;

namespace Grains.Cluster;

/// <summary>The metadata this silo was started with (<see cref="LocalSiloDeclaration"/>), answered on the silo itself.</summary>
[SiloPinnedPlacement, Reentrant]
public sealed class SiloDeclarationGrain(LocalSiloDeclaration declaration) : Grain, ISiloDeclarationGrain
{
    public Task<Dictionary<string, string>> Metadata() => Task.FromResult(new Dictionary<string, string>(declaration.Metadata));
}

/// <summary>The metadata this silo was started with, as it gave it to Orleans.</summary>
public sealed record LocalSiloDeclaration(IReadOnlyDictionary<string, string> Metadata);
