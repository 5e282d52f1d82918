using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Kernels.Generation;
using Kernels.Model;
using Microsoft.Extensions.Logging;

namespace Grains.Rl;

/// <summary>
/// A generation worker on one device of a generation silo. Its loop admits queued samples while the
/// batch has a free slot and the token budget (prompt + most new tokens of every running sample) has
/// room, advances the batch, and reports each finished sample to its sample grain at once. The loop is
/// not a grain call, so Submit, HandBack and the rest are answered between its steps.
/// </summary>
[DevicePlacement(SiloRoles.Generation)]
public sealed class GenerationWorkerGrain(ICheckpointStore store, ILogger<GenerationWorkerGrain> logger) : TensorDeviceGrain, IGenerationWorkerGrain
{
    private readonly Queue<GenerationWork> waiting = new();
    private readonly Dictionary<string, GenerationWork> running = [];
    private GenerationLimits? limits;
    private Transformer? model;
    private ContinuousBatch? batch;
    private int version = -1;
    private int eosId;
    private Task? loop;

    public Task Configure(GenerationLimits configured)
    {
        if (configured.MaxBatch < 1 || configured.MaxTokens < 1 || configured.MaxSequenceLength < 2)
        {
            throw new ArgumentException($"generation limits must be positive (maxBatch {configured.MaxBatch}, maxTokens {configured.MaxTokens}, maxSequenceLength {configured.MaxSequenceLength})");
        }
        if (limits == configured) return Task.CompletedTask;
        if (running.Count + waiting.Count > 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} cannot change its limits while {running.Count + waiting.Count} samples are in it");
        limits = configured;
        eosId = ModelCatalog.Tokenizer(configured.Model).EosId;
        return Work.Run(() =>
        {
            batch?.Dispose();
            batch = null;
            model?.Dispose();
            model = new Transformer(ModelCatalog.Config(configured.Model));
            model.eval();
        });
    }

    public async Task LoadWeights(WeightsRef weights)
    {
        if (limits is null) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} is not configured");
        if (running.Count + waiting.Count > 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} cannot change weights while {running.Count + waiting.Count} samples are in it");
        if (weights.Version == version) return;
        var bytes = await ModelCatalog.ReadAsync(store, weights.Object);
        await Work.Run(() => ModelCatalog.Deserialize(model!, bytes, weights.Object));
        version = weights.Version;
    }

    public Task Submit(GenerationWork[] work)
    {
        if (version < 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} has no weights yet");
        foreach (var w in work)
        {
            if (w.Prompt.Length + w.MaxNewTokens >= limits!.MaxSequenceLength)
            {
                throw new ArgumentException($"sample {w.SampleId}: prompt of {w.Prompt.Length} tokens + {w.MaxNewTokens} new tokens exceeds the worker's sequence length {limits.MaxSequenceLength}");
            }
            if (running.ContainsKey(w.SampleId) || waiting.Any(q => q.SampleId == w.SampleId)) continue;
            waiting.Enqueue(w);
        }
        loop = loop is { IsCompleted: false } ? loop : RunLoop();
        return Task.CompletedTask;
    }

    public async Task<GenerationWork[]> HandBack()
    {
        var handed = waiting.ToList();
        waiting.Clear();
        var ids = running.Keys.ToArray();
        var snapshots = await Work.Run(() => ids.Select(id => batch!.Evict(id)).ToArray());
        foreach (var s in snapshots)
        {
            handed.Add(running[s.Request.Id] with { Response = s.Response, LogProbs = s.LogProbs });
            running.Remove(s.Request.Id);
        }
        return [.. handed];
    }

    public Task<int[][]> Greedy(int[][] prompts, int maxNewTokens)
    {
        if (version < 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} has no weights yet");
        var requests = prompts.Select((p, i) => new GenerationRequest($"greedy-{i}", p, new SamplingParams(maxNewTokens, Temperature: 0, StopTokens: [eosId]))).ToArray();
        return Work.Run(() => ContinuousBatch.Generate(model!, requests, Math.Min(limits!.MaxBatch, 64), limits.MaxSequenceLength)
            .Select(c => c.Response).ToArray());
    }

    public Task<int> Pending() => Task.FromResult(running.Count + waiting.Count);

    protected override void ReleaseTensors()
    {
        batch?.Dispose();
        model?.Dispose();
    }

    private async Task RunLoop()
    {
        var reports = new List<Task>();
        while (waiting.Count > 0 || running.Count > 0)
        {
            var admitted = Admit();
            var workerVersion = version;
            var finished = await Work.Run(() =>
            {
                batch ??= new ContinuousBatch(model!, limits!.MaxBatch, limits.MaxSequenceLength);
                foreach (var w in admitted) batch.Resume(new SequenceSnapshot(ToRequest(w), w.Response, w.LogProbs));
                // A few steps per hand-over keep the hand-over cost small; finished samples still go out at once.
                for (var step = 0; step < 8 && batch.Count > 0; step++)
                {
                    var done = batch.Step();
                    if (done.Count > 0) return done;
                }
                return (IReadOnlyList<CompletedSequence>)[];
            });
            foreach (var f in finished)
            {
                if (!running.Remove(f.Id)) continue;
                var response = new GeneratedResponse(f.Response, f.LogProbs, workerVersion, this.GetPrimaryKeyString(), f.Reason == FinishReason.Length);
                reports.Add(Report(f.Id, response));
            }
            reports.RemoveAll(t => t.IsCompleted);
        }
        await Task.WhenAll(reports);
    }

    private List<GenerationWork> Admit()
    {
        var admitted = new List<GenerationWork>();
        var tokens = running.Values.Sum(Budget);
        while (waiting.Count > 0 && running.Count < limits!.MaxBatch && (running.Count == 0 || tokens + Budget(waiting.Peek()) <= limits.MaxTokens))
        {
            var w = waiting.Dequeue();
            running[w.SampleId] = w;
            tokens += Budget(w);
            admitted.Add(w);
        }
        return admitted;

        static int Budget(GenerationWork w) => w.Prompt.Length + w.MaxNewTokens;
    }

    private GenerationRequest ToRequest(GenerationWork w) =>
        new(w.SampleId, w.Prompt, new SamplingParams(w.MaxNewTokens, w.Temperature, Seed: w.Seed, StopTokens: [eosId]));

    private async Task Report(string sampleId, GeneratedResponse response)
    {
        try
        {
            await GrainFactory.GetGrain<ISampleGrain>(sampleId).Generated(response);
        }
        catch (Exception e)
        {
            logger.LogError(e, "reporting sample {Sample} failed", sampleId);
        }
    }
}
