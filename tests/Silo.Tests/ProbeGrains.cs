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
