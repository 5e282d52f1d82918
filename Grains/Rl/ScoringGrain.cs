using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Kernels.Model;
using Kernels.Rl;
using Kernels.Tasks;
using Orleans.Concurrency;

namespace Grains.Rl;

/// <summary>
/// Scores finished samples: the reward from the task's verifier or a learned reward model, the
/// reference's log-probs, and (PPO) the critic's values. A stateless worker on inference silos, one
/// per silo and reentrant: requests that arrive while a batch is being scored wait together and go
/// through the models as the next batch (dynamic batching, in fixed-shape chunks), so streaming sample
/// by sample costs little more than scoring all at once. Models are cached by object name; a newer
/// critic replaces the older.
/// </summary>
[StatelessWorker(1), Reentrant, InferenceSilosOnly]
public sealed class ScoringGrain(ICheckpointStore store) : Grain, IScoringGrain
{
    private const int MaxBatch = 64;
    private const int ScoringRows = 16;
    private readonly Dictionary<string, Transformer> models = [];
    private readonly List<(ScoringRequest Request, TaskCompletionSource<SampleScores> Done)> pending = [];
    private Task? draining;

    public Task<SampleScores> Score(ScoringRequest request)
    {
        if (request.Response.Length == 0) throw new ArgumentException($"sample {request.SampleId} has no response to score");
        var done = new TaskCompletionSource<SampleScores>(TaskCreationOptions.RunContinuationsAsynchronously);
        pending.Add((request, done));
        draining ??= Drain();
        return done.Task;
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
                var scores = await ScoreBatch(models, batch.Select(p => p.Request).ToArray());
                for (var k = 0; k < batch.Length; k++) batch[k].Done.SetResult(scores[k]);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Done.SetException(e);
            }
        }
        draining = null;
    }

    private async Task<SampleScores[]> ScoreBatch(ScoringModels m, ScoringRequest[] requests)
    {
        var reference = await Model(m.Model, m.ReferenceWeights, HeadKind.LanguageModel);
        var critic = m.CriticWeights is null ? null : await Model(m.Model, m.CriticWeights, HeadKind.Scalar);
        var rewardModel = m.RewardModel is null ? null : await Model(m.Model, m.RewardModel, HeadKind.Scalar);
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(m.Model));
        var task = TaskDataset.Task(m.Task);
        // Every batch has the same shape, padded to ScoringRows rows of the job's longest sequence: a
        // row's floating-point results then do not depend on what else is in its batch, which depends on
        // timing, and the same seeds give the same run.
        return await Task.Run(() => requests.Chunk(ScoringRows).SelectMany(chunk =>
        {
            var rows = chunk.Select(r => (r.Prompt, r.Response)).ToArray();
            var shape = (ScoringRows, m.SequenceLength);
            var rewards = rewardModel is not null
                ? ResponseScoring.Rewards(rewardModel, rows, shape)
                : chunk.Select(r => task.Reward(new TaskExample(encoding.Tokenizer.Decode(r.Prompt), r.Answer), encoding.Response(r.Response))).ToArray();
            var refLogProbs = ResponseScoring.LogProbs(reference, rows, m.Temperature, shape);
            var values = critic is null ? null : ResponseScoring.Values(critic, rows, shape);
            return chunk.Select((_, k) => new SampleScores(rewards[k], refLogProbs[k], values?[k]));
        }).ToArray());
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        foreach (var model in models.Values) model.Dispose();
        models.Clear();
        return Task.CompletedTask;
    }

    private async Task<Transformer> Model(string preset, string name, HeadKind head)
    {
        if (models.TryGetValue(name, out var cached)) return cached;
        var bytes = await ModelCatalog.ReadAsync(store, name);
        if (models.TryGetValue(name, out cached)) return cached;
        var model = new Transformer(ModelCatalog.Config(preset), head);
        try
        {
            ModelCatalog.Deserialize(model, bytes, name);
        }
        catch
        {
            model.Dispose();
            throw;
        }
        foreach (var p in model.parameters()) p.requires_grad_(false);
        model.eval();
        // A newer critic version replaces the older one of the same job.
        if (head == HeadKind.Scalar && name.Contains("/weights/critic-"))
        {
            foreach (var old in models.Keys.Where(k => k.Contains("/weights/critic-")).ToArray())
            {
                models[old].Dispose();
                models.Remove(old);
            }
        }
        models[name] = model;
        return model;
    }
}
