using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Smoke;
using Grains.Placement;
using Grains.Storage;
using Kernels.Smoke;

namespace Grains.Smoke;

/// <summary>
/// Training work on one training device: the smoke job that proves tensors, placement and the
/// checkpoint store (the trained weights go into the store and are read back and hash-checked).
/// </summary>
[DevicePlacement(SiloRoles.Training)]
public sealed class SmokeGrain(ICheckpointStore store) : DeviceGrain, ISmokeGrain
{
    public async Task<SmokeReport> Run(SmokeRequest request)
    {
        if (request.Steps is < 1 or > 100_000)
        {
            throw new ArgumentOutOfRangeException(nameof(request), request.Steps, "SmokeRequest.Steps must be between 1 and 100000");
        }
        var local = Path.Combine(Path.GetTempPath(), $"actors-smoke-{Guid.NewGuid():N}.safetensors");
        try
        {
            // Tensor work runs synchronously on a pool thread, its dispose scopes never spanning an await,
            // so the grain's scheduler stays free for other calls.
            var outcome = await Task.Run(() => SmokeTraining.Run(request.Steps, request.Seed, local));
            var name = $"smoke/{this.GetPrimaryKeyString()}/model.safetensors";
            await using (var file = File.OpenRead(local))
            {
                await store.WriteAsync(name, file);
            }
            var stored = await store.ReadAsync(name, Stream.Null); // read back whole: the store checks the hash
            if (stored.Sha256 != outcome.CheckpointSha256)
            {
                throw new InvalidDataException($"checkpoint {name} came back as {stored.Sha256}, written as {outcome.CheckpointSha256}");
            }
            return new SmokeReport(
                Lease.Silo, Lease.Device, outcome.Parameters, outcome.Steps, outcome.InitialLoss, outcome.FinalLoss,
                outcome.FirstGradientNorm, name, stored.Length, stored.Sha256, outcome.ReloadMaxDifference);
        }
        finally
        {
            File.Delete(local);
        }
    }
}
