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
/// reference's log-probs, and (PPO) the critic's values. A stateless worker on inference silos, so it
/// is replicated where load needs it; each activation caches the models it was asked for by object
/// name, and frees a critic when a newer version replaces it.
/// </summary>
[StatelessWorker, InferenceSilosOnly]
public sealed class ScoringGrain(ICheckpointStore store) : Grain, IScoringGrain
{
    private readonly Dictionary<string, Transformer> models = [];

    public async Task<SampleScores> Score(ScoringRequest request)
    {
        if (request.Response.Length == 0) throw new ArgumentException($"sample {request.SampleId} has no response to score");
        var m = request.Models;
        var reference = await Model(m.Model, m.ReferenceWeights, HeadKind.LanguageModel);
        var critic = m.CriticWeights is null ? null : await Model(m.Model, m.CriticWeights, HeadKind.Scalar);
        var rewardModel = m.RewardModel is null ? null : await Model(m.Model, m.RewardModel, HeadKind.Scalar);
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(m.Model));
        return await Task.Run(() =>
        {
            (int[], int[])[] rows = [(request.Prompt, request.Response)];
            var reward = rewardModel is not null
                ? ResponseScoring.Rewards(rewardModel, rows)[0]
                : TaskDataset.Task(m.Task).Reward(new TaskExample(encoding.Tokenizer.Decode(request.Prompt), request.Answer), encoding.Response(request.Response));
            return new SampleScores(reward, ResponseScoring.LogProbs(reference, rows, m.Temperature)[0], critic is null ? null : ResponseScoring.Values(critic, rows)[0]);
        });
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
