using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Placement;

namespace Silo.Tests;

// Grains that own a device of each role and do nothing else: what the placement tests place.
public interface IGenerationProbeGrain : IDeviceGrain;
public interface ITrainingProbeGrain : IDeviceGrain;
public interface IInferenceProbeGrain : IDeviceGrain;

[DevicePlacement(SiloRoles.Generation)]
public sealed class GenerationProbeGrain : DeviceGrain, IGenerationProbeGrain;

[DevicePlacement(SiloRoles.Training)]
public sealed class TrainingProbeGrain : DeviceGrain, ITrainingProbeGrain;

[DevicePlacement(SiloRoles.Inference)]
public sealed class InferenceProbeGrain : DeviceGrain, IInferenceProbeGrain;

// A scoring model's shape: a stateless worker kept to inference silos, and a generation grain that calls it.
public interface IScoringProbeGrain : IGrainWithIntegerKey
{
    Task<string> Silo();
}

[Orleans.Concurrency.StatelessWorker]
[InferenceSilosOnly]
public sealed class ScoringProbeGrain : Grain, IScoringProbeGrain
{
    public Task<string> Silo() => Task.FromResult(GrainContext.Address.SiloAddress!.ToParsableString());
}

public interface IScoringCallerGrain : IDeviceGrain
{
    Task<(string Caller, string Scorer)> CallScoring();
}

[DevicePlacement(SiloRoles.Generation)]
public sealed class ScoringCallerGrain : DeviceGrain, IScoringCallerGrain
{
    public async Task<(string Caller, string Scorer)> CallScoring() =>
        (GrainContext.Address.SiloAddress!.ToParsableString(), await GrainFactory.GetGrain<IScoringProbeGrain>(0).Silo());
}
