using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Cluster;
using Grains.Models;
using System.Diagnostics;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Kernels.Audio;
using Kernels.Model;
using Kernels.Preference;
using Kernels.Rl;
using Kernels.Tasks;

namespace Grains.Engines;

/// <summary>
/// Scoring on real tensors: the reward from the task's verifier (plus, for spoken answers, their pitch's) or a learned reward model, the
/// reference's log-probs, and (PPO) the critic's values. Models are cached by object name; a newer
/// critic replaces the older. Every batch has the same shape, padded to 16 rows of the job's longest
/// sequence: a row's floating-point results then do not depend on what else is in its batch, which
/// depends on timing, and the same seeds give the same run.
/// </summary>
public sealed class TensorScoringEngine(ICheckpointStore store, TensorThreads threads) : IScoringEngine
{
    private const int ScoringRows = 16;
    private readonly Dictionary<string, Transformer> models = [];
    private long busyTicks;

    public async Task<SampleScores[]> Score(ScoringModels m, ScoringRequest[] requests)
    {
        var reference = await Model(m.Model, m.ReferenceWeights, HeadKind.LanguageModel);
        var critic = m.CriticWeights is null ? null : await Model(m.Model, m.CriticWeights, HeadKind.Scalar);
        var rewardModel = m.RewardModel is null ? null : await Model(m.Model, m.RewardModel, HeadKind.Scalar);
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(m.Model));
        var task = TaskDataset.Task(SpecNames.Of(m.Task));
        return await Task.Run(() =>
        {
            threads.ApplyHere();
            var started = Stopwatch.GetTimestamp();
            var scores = requests.Chunk(ScoringRows).SelectMany(chunk =>
            {
                var rows = chunk.Select(r => (r.Prompt, r.Response)).ToArray();
                var shape = (ScoringRows, m.SequenceLength);
                var pitches = chunk.Select(r => m.Pitch is null ? (double?)null : SpokenPitch.Hz(encoding, r.Response)).ToArray();
                var rewards = rewardModel is not null
                    ? ResponseScoring.Rewards(rewardModel, rows, shape)
                    : chunk.Select((r, k) => task.Reward(new TaskExample(encoding.Tokenizer.Decode(r.Prompt), r.Answer), Answer(m, encoding.Response(r.Response)))
                        + (m.Pitch is { } pitch ? pitch.Weight * new PitchReward(pitch.MinHz, pitch.MaxHz).Score(pitches[k]!.Value) : 0)).ToArray();
                var refLogProbs = ResponseScoring.LogProbs(reference, rows, m.Temperature, shape);
                var values = critic is null ? null : ResponseScoring.Values(critic, rows, shape);
                return chunk.Select((_, k) => new SampleScores(rewards[k], refLogProbs[k], values?[k], pitches[k]));
            }).ToArray();
            Interlocked.Add(ref busyTicks, Stopwatch.GetTimestamp() - started);
            return scores;
        });
    }

    /// <summary>
    /// Each sequence's log-prob under the weights named, at temperature 1, in batches of one shape (16 rows of
    /// the request's longest sequence).
    /// </summary>
    public async Task<float[]> SequenceLogProbs(SequenceRequest request)
    {
        var model = await Model(request.Model, request.Weights, HeadKind.LanguageModel);
        var rows = request.Prompts.Zip(request.Responses).ToArray();
        if (rows.Length == 0) return [];
        var shape = (ScoringRows, rows.Max(r => r.First.Length + r.Second.Length));
        return await Task.Run(() =>
        {
            threads.ApplyHere();
            var started = Stopwatch.GetTimestamp();
            var logProbs = rows.Chunk(ScoringRows).SelectMany(chunk => PreferenceUpdate.SequenceLogProbs(model, chunk, shape)).ToArray();
            Interlocked.Add(ref busyTicks, Stopwatch.GetTimestamp() - started);
            return logProbs;
        });
    }

    /// <summary>What the verifier checks: with tool turns, the text after the last tool answer.</summary>
    private static string Answer(ScoringModels m, string response) => m.ToolTurns ? Kernels.Tools.ToolSyntax.FinalAnswer(response) : response;

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => ((double)Interlocked.Exchange(ref busyTicks, 0) / Stopwatch.Frequency, null);

    public ValueTask DisposeAsync()
    {
        foreach (var model in models.Values) model.Dispose();
        models.Clear();
        return ValueTask.CompletedTask;
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
