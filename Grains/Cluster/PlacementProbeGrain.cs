using Grains.Interfaces.Cluster;

namespace Grains.Cluster;

/// <summary>Orleans' own placement and activation, with nothing of the device directory's.</summary>
public sealed class PlacementProbeGrain : Grain, IPlacementProbeGrain
{
    public Task<string> Silo() => Task.FromResult(GrainContext.Address.SiloAddress!.ToParsableString());

    public Task Vacate()
    {
        this.DeactivateOnIdle();
        return Task.CompletedTask;
    }
}
