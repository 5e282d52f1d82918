namespace Grains.Interfaces.Cluster;

/// <summary>
/// A grain that holds nothing and owns no device: placement-bench activates as many of them as device
/// grains, so the time Orleans itself takes to place and activate that many grains is measured beside the
/// device directory's.
/// </summary>
public interface IPlacementProbeGrain : IGrainWithStringKey
{
    /// <summary>The silo it was placed on.</summary>
    Task<string> Silo();

    /// <summary>Deactivate once current calls finish.</summary>
    Task Vacate();
}
