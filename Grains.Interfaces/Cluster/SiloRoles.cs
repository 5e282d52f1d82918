namespace Grains.Interfaces.Cluster;

/// <summary>The work a silo offers, declared in its metadata; device grains are placed by it.</summary>
public static class SiloRoles
{
    public const string Generation = "generation";
    public const string Training = "training";
    public const string Inference = "inference";

    public static readonly IReadOnlyList<string> All = [Generation, Training, Inference];
}

/// <summary>The keys under which a silo publishes its roles, devices, device class and datacenter (Orleans silo metadata).</summary>
public static class SiloMetadataKeys
{
    public const string Name = "actors.name";
    public const string Roles = "actors.roles";
    public const string Devices = "actors.devices";
    public const string DeviceClass = "actors.device-class";
    public const string Datacenter = "actors.datacenter";

    /// <summary>The datacenter of a silo that declares none.</summary>
    public const string DefaultDatacenter = "local";

    /// <summary>The datacenter a silo's metadata declares.</summary>
    public static string DatacenterOf(IReadOnlyDictionary<string, string> metadata) =>
        metadata.TryGetValue(Datacenter, out var datacenter) && datacenter.Length > 0 ? datacenter : DefaultDatacenter;
}
