namespace Grains.Interfaces.Cluster;

/// <summary>What every device-owning grain answers: its lease, and requests to leave its device.</summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    Task<DeviceLease> Device();

    /// <summary>Deactivate once current calls finish; the next call places the grain anew.</summary>
    Task Vacate();

    /// <summary>
    /// Its silo is drained: leave as <see cref="Vacate"/> does, a grain holding work first handing it to
    /// whoever gave it (a generation worker: its job).
    /// </summary>
    Task Drain();
}
