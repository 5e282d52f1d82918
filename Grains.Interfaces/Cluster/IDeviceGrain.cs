namespace Grains.Interfaces.Cluster;

/// <summary>What every device-owning grain answers: its lease, and a request to leave its silo (drain).</summary>
public interface IDeviceGrain : IGrainWithStringKey
{
    Task<DeviceLease> Device();

    /// <summary>Deactivate once current calls finish; the next call places the grain anew.</summary>
    Task Vacate();
}
