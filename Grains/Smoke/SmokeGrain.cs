using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Smoke;
using Grains.Placement;
using Kernels.Smoke;
using Microsoft.Extensions.Options;

namespace Grains.Smoke;

/// <summary>Training work on one training device: the smoke job that proves tensors, placement and checkpoints.</summary>
[DevicePlacement(SiloRoles.Training)]
public sealed class SmokeGrain(IOptions<CheckpointOptions> checkpoints) : DeviceGrain, ISmokeGrain
{
    public async Task<SmokeReport> Run(SmokeRequest request)
    {
        if (request.Steps is < 1 or > 100_000)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Steps, "SmokeRequest.Steps must be between 1 and 100000");
        }
        var path = Path.Combine(checkpoints.Value.Directory, "smoke", $"{this.GetPrimaryKeyString()}.safetensors");
        // Tensor work runs synchronously on a pool thread, its dispose scopes never spanning an await,
        // so the grain's scheduler stays free for other calls.
        var outcome = await Task.Run(() => SmokeTraining.Run(request.Steps, request.Seed, path));
        return new SmokeReport(
            Lease.Silo, Lease.Device, outcome.Parameters, outcome.Steps, outcome.InitialLoss, outcome.FinalLoss,
            outcome.FirstGradientNorm, outcome.CheckpointPath, outcome.CheckpointBytes, outcome.CheckpointSha256,
            outcome.ReloadMaxDifference);
    }
}
