namespace Grains.Interfaces.Smoke;

/// <summary>Runs the stack's smoke job on the silo that hosts it: tensors, gradients, a checkpoint.</summary>
public interface ISmokeGrain : IGrainWithStringKey, Cluster.IDeviceGrain
{
    Task<SmokeReport> Run(SmokeRequest request);
}

[GenerateSerializer, Immutable]
public sealed record SmokeRequest(int Steps, long Seed);

[GenerateSerializer, Immutable]
public sealed record SmokeReport(
    string Silo, string Device, long Parameters, int Steps, double InitialLoss, double FinalLoss, double FirstGradientNorm,
    string CheckpointPath, long CheckpointBytes, string CheckpointSha256, double ReloadMaxDifference);
