namespace Grains.Interfaces.Cluster;

/// <summary>A device's work since the last report: seconds computing, where it is, and (emulated devices) when it worked on what.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceUsage(
    [property: Id(0)] string Holder,
    [property: Id(1)] string Silo,
    [property: Id(2)] string Device,
    [property: Id(3)] double BusySeconds,
    [property: Id(4)] BusyInterval[]? Intervals = null)
{
    /// <summary>Trained weights this device's reads brought over each link ("from->to" datacenters), in bytes.</summary>
    [Id(5)] public Dictionary<string, long> WeightBytes { get; init; } = [];
}

/// <summary>A stretch of time (UTC) a device spent on one stage's work.</summary>
[GenerateSerializer, Immutable]
public sealed record BusyInterval([property: Id(0)] DateTimeOffset Start, [property: Id(1)] DateTimeOffset End, [property: Id(2)] string Stage);
