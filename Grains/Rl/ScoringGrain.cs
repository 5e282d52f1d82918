using Grains.Cluster;
using Kernels.Emulation;
using Grains.Interfaces.Cluster;
using Grains.Engines;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Orleans.Concurrency;

namespace Grains.Rl;

/// <summary>
/// Scores finished samples on its engine (real tensors, or an emulated device when the request says
/// so). A stateless worker on inference silos, one per silo and key, and reentrant: requests that
/// arrive while a batch is being scored wait together and go through the models as the next batch
/// (dynamic batching), so streaming sample by sample costs little more than scoring all at once.
/// </summary>
[StatelessWorker(1), Reentrant, InferenceSilosOnly]
public sealed class ScoringGrain(ICheckpointStore store, HybridDevices hybrids, TensorThreads threads) : Grain, IScoringGrain
{
    private const int MaxBatch = 64;
    private readonly List<(ScoringRequest Request, TaskCompletionSource<SampleScores> Done)> pending = [];
    private readonly Dictionary<EmulatedScorer, IScoringEngine> emulated = [];
    private TensorScoringEngine? tensors;
    private Task? draining;

    public Task<SampleScores> Score(ScoringRequest request)
    {
        if (request.ResponseTokens == 0) throw new ArgumentException($"sample {request.SampleId} has no response to score");
        var done = new TaskCompletionSource<SampleScores>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending.Add((request, done));
        // A batch can finish without yielding (an emulated device's sub-millisecond wait), so test for completion, not for null.
        if (draining is not { IsCompleted: false }) draining = Drain();
        return done.Task;
    }

    public Task<float[]> SequenceLogProbs(SequenceRequest request)
    {
        if (request.Prompts.Length != request.Responses.Length) throw new ArgumentException($"{request.Prompts.Length} prompts but {request.Responses.Length} responses: each sequence is a prompt and its response");
        if (Array.FindIndex(request.Responses, r => r.Length == 0) is var empty and >= 0) throw new ArgumentException($"sequence {empty} has no response to score");
        return (tensors ??= new TensorScoringEngine(store, threads)).SequenceLogProbs(request);
    }

    public Task<DeviceUsage> TakeUsage()
    {
        var usages = emulated.Values.Append(tensors).OfType<IScoringEngine>().Select(e => e.TakeUsage()).ToArray();
        return Task.FromResult(new DeviceUsage(this.GetPrimaryKeyString(), RuntimeIdentity, "scoring", usages.Sum(u => u.BusySeconds),
            usages.SelectMany(u => u.Intervals ?? []).ToArray()));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        foreach (var engine in emulated.Values.Append(tensors).OfType<IScoringEngine>()) await engine.DisposeAsync();
    }

    private async Task Drain()
    {
        while (pending.Count > 0)
        {
            var models = pending[0].Request.Models;
            var batch = pending.Where(p => p.Request.Models == models).Take(MaxBatch).ToArray();
            pending.RemoveAll(p => batch.Contains(p));
            try
            {
                var engine = models.Emulated is { } e ? emulated.TryGetValue(e, out var known) ? known : emulated[e] = new EmulatedScoringEngine(e, hybrids.For(this.GetPrimaryKeyString(), e.Device, DeviceRole.Scoring)) : tensors ??= new TensorScoringEngine(store, threads);
                var scores = await engine.Score(models, batch.Select(p => p.Request).ToArray());
                for (var k = 0; k < batch.Length; k++) batch[k].Done.SetResult(scores[k]);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Done.SetException(e);
            }
        }
    }
}
