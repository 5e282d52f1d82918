using Grains.Interfaces.Cluster;
using Orleans.Placement;

namespace Grains.Placement;

/// <summary>
/// Places a grain that owns a device on a silo that serves <see cref="Role"/> and has a device no other
/// grain holds; the grain stays there. One strategy class per role, because Orleans keeps one strategy
/// instance per class.
/// </summary>
public abstract class DevicePlacementStrategy : PlacementStrategy
{
    public abstract string Role { get; }
}

[GenerateSerializer, Immutable]
public sealed class GenerationDevicePlacement : DevicePlacementStrategy
{
    public override string Role => SiloRoles.Generation;
}

[GenerateSerializer, Immutable]
public sealed class TrainingDevicePlacement : DevicePlacementStrategy
{
    public override string Role => SiloRoles.Training;
}

[GenerateSerializer, Immutable]
public sealed class InferenceDevicePlacement : DevicePlacementStrategy
{
    public override string Role => SiloRoles.Inference;
}

/// <summary>Marks a grain class as owning one device of a silo with <paramref name="role"/>.</summary>
[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class DevicePlacementAttribute(string role) : PlacementAttribute(role switch
{
    SiloRoles.Generation => new GenerationDevicePlacement(),
    SiloRoles.Training => new TrainingDevicePlacement(),
    SiloRoles.Inference => new InferenceDevicePlacement(),
    _ => throw new ArgumentException($"unknown silo role '{role}' (known: {string.Join(", ", SiloRoles.All)})", nameof(role)),
});
