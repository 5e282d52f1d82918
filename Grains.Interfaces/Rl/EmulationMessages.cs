using Grains.Interfaces.Jobs;

namespace Grains.Interfaces.Rl;

/// <summary>An emulated device instance: its class, the model shape it runs, over how many devices (tensor parallel), and emulated seconds per wall second.</summary>
[GenerateSerializer, Immutable]
public sealed record EmulatedDevice(
    [property: Id(0)] string DeviceClass,
    [property: Id(1)] string Model,
    [property: Id(2)] int TensorParallel,
    [property: Id(3)] double TimeScale,
    [property: Id(4)] HybridPool? Hybrid = null);

/// <summary>
/// A colocated job's devices: every one hosts a worker, a scorer and the trainers, on one time line, and
/// pays the cost model's price to switch roles (what the models it switches between are, over how many devices training shards).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record HybridPool(
    [property: Id(0)] string Actor,
    [property: Id(1)] string? Critic,
    [property: Id(2)] string? RewardModel,
    [property: Id(3)] int Devices);

/// <summary>
/// An emulated generation worker: its device, where response lengths come from, and the link new weights
/// arrive over; with <see cref="CrossDatacenterLink"/>, the trainers are in another datacenter: a version
/// crosses that link once and reaches the <see cref="Workers"/> workers through a tree over the weight link.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EmulatedGenerator(
    [property: Id(0)] EmulatedDevice Device,
    [property: Id(1)] string Lengths,
    [property: Id(2)] string WeightLink,
    [property: Id(3)] double LengthCorrelation = 0,
    [property: Id(4)] double LengthDrift = 0,
    [property: Id(5)] string? CrossDatacenterLink = null,
    [property: Id(6)] int Workers = 1)
{
    /// <summary>The tool calls responses make (an agentic workload), or null.</summary>
    [Id(7)] public EmulatedToolsSpec? Tools { get; init; }
}

/// <summary>Emulated scoring: the device running the reference's shape, the critic's and reward model's shapes if any, and how many scoring instances share the work.</summary>
[GenerateSerializer, Immutable]
public sealed record EmulatedScorer(
    [property: Id(0)] EmulatedDevice Device,
    [property: Id(1)] string? CriticModel,
    [property: Id(2)] string? RewardModel,
    [property: Id(3)] int Instances);
