namespace Grains.Interfaces.Cluster;

/// <summary>
/// A silo's own declaration (its name, roles, devices, device class and datacenter: the metadata it was
/// started with), asked of the silo itself. Keyed by the silo's address (<c>SiloAddress.ToParsableString</c>)
/// and placed on that silo.
/// </summary>
public interface ISiloDeclarationGrain : IGrainWithStringKey
{
    Task<Dictionary<string, string>> Metadata();
}
