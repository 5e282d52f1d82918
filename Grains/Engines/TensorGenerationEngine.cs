using Grains.Interfaces.Cluster;
using Grains.Models;
using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Kernels.Generation;
using Kernels.Model;

namespace Grains.Engines;

/// <summary>
/// Generation on real tensors: the model and a continuous batch on the worker's device thread. A sample
/// fits while the batch has a slot and the token budget (prompt + most new tokens of every admitted
/// sample) has room.
/// </summary>
public sealed class TensorGenerationEngine : IGenerationEngine
{
    // Reads a weights version's bytes (Rl.SiloWeights: from the store, or through the datacenter's relay).
    private readonly Func<WeightsRef, Task<byte[]>> readWeights;
    private readonly GenerationLimits limits;
    private readonly DeviceThread device;
    private readonly Dictionary<string, GenerationWork> admitted = [];
    private readonly List<GenerationWork> unstarted = [];
    private readonly int eosId;
    private Transformer? model;
    private ContinuousBatch? batch;
    /// <summary>The loaded weights version: a KV cache made with another is not used.</summary>
    private int version = -1;

    private TensorGenerationEngine(Func<WeightsRef, Task<byte[]>> readWeights, GenerationLimits limits, string name)
    {
        (this.readWeights, this.limits) = (readWeights, limits);
        eosId = ModelCatalog.Tokenizer(limits.Model).EosId;
        device = new DeviceThread(name);
    }

    public static async Task<TensorGenerationEngine> Create(Func<WeightsRef, Task<byte[]>> readWeights, GenerationLimits limits, string name)
    {
        var engine = new TensorGenerationEngine(readWeights, limits, name);
        await engine.device.Run(() =>
        {
            engine.model = new Transformer(ModelCatalog.Config(limits.Model));
            engine.model.eval();
        });
        return engine;
    }

    public int Count => admitted.Count;

    public bool Holds(string sampleId) => admitted.ContainsKey(sampleId);

    public async Task LoadWeights(WeightsRef weights)
    {
        await WeightsLoadException.Of(weights, async () =>
        {
            var bytes = await readWeights(weights);
            await device.Run(() => ModelCatalog.Deserialize(model!, bytes, weights.Object));
            return true;
        });
        version = weights.Version;
    }

    public bool TryAdmit(GenerationWork work)
    {
        if (work.Prompt.Length + work.MaxNewTokens >= limits.MaxSequenceLength)
        {
            throw new ArgumentException($"sample {work.SampleId}: prompt of {work.Prompt.Length} tokens + {work.MaxNewTokens} new tokens exceeds the worker's sequence length {limits.MaxSequenceLength}");
        }
        var fits = admitted.Count == 0 || (admitted.Count < limits.MaxBatch && admitted.Values.Sum(Budget) + Budget(work) <= limits.MaxTokens);
        if (!fits) return false;
        admitted[work.SampleId] = work;
        unstarted.Add(work);
        return true;

        static int Budget(GenerationWork w) => w.Prompt.Length + w.MaxNewTokens;
    }

    public async Task<IReadOnlyList<FinishedWork>> Advance()
    {
        var starting = unstarted.ToArray();
        unstarted.Clear();
        // Once in the batch a cache is the batch's: the sample's work no longer carries it.
        foreach (var w in starting.Where(w => w.Cache is not null)) admitted[w.SampleId] = w with { Cache = null };
        var finished = await device.Run(() =>
        {
            batch ??= new ContinuousBatch(model!, limits.MaxBatch, limits.MaxSequenceLength);
            // A sample moved here with its KV cache (made with these weights) skips reading its context again.
            foreach (var w in starting) batch.Resume(new SequenceSnapshot(ToRequest(w), w.Response, w.LogProbs, w.Cache is { } c && c.Version == version ? c.Entries : null));
            // A few steps per hand-over keep the hand-over cost small; finished samples still go out at once.
            for (var step = 0; step < 8 && batch.Count > 0; step++)
            {
                var done = batch.Step();
                if (done.Count > 0) return done;
            }
            return (IReadOnlyList<CompletedSequence>)[];
        });
        return finished.Where(f => admitted.Remove(f.Id))
            .Select(f => new FinishedWork(f.Id, f.Response, f.LogProbs, f.Response.Length, f.Reason == FinishReason.Length)).ToArray();
    }

    public async Task<GenerationWork[]> Progress()
    {
        // On the device thread, between steps: the batch is not changed under it.
        var snapshots = await device.Run(() => batch?.Progress() ?? []);
        return [.. snapshots.Where(s => admitted.ContainsKey(s.Request.Id)).Select(s => admitted[s.Request.Id] with { Response = s.Response, LogProbs = s.LogProbs })];
    }

    public Task<GenerationWork[]> EvictAll() => EvictWhere(_ => true, withCache: false);

    /// <remarks>The context is recomputed under the new weights: a resumed sample's tokens are then exactly the new version's.</remarks>
    public Task<GenerationWork[]> Interrupt() => EvictAll();

    /// <remarks>Real devices have no cost model here: <see cref="MigrationMove.Auto"/> sends the cache (a tensor copy against a forward pass over the whole context).</remarks>
    public Task<GenerationWork[]> Evict(IReadOnlySet<string> sampleIds, MigrationMove move) => EvictWhere(sampleIds.Contains, withCache: move != MigrationMove.Prefill);

    /// <summary>Takes out the admitted samples <paramref name="named"/> says, those running with their KV cache if <paramref name="withCache"/>.</summary>
    private async Task<GenerationWork[]> EvictWhere(Func<string, bool> named, bool withCache)
    {
        // Asked on the device thread, after the steps queued before: a step that has not run yet may be
        // the one that creates the batch and puts samples in it (reading it from here lost them under load).
        var snapshots = await device.Run(() => batch is null ? [] : batch.RunningIds.Where(named).ToArray().Select(id => batch.Evict(id, withCache)).ToArray());
        var handed = unstarted.Where(w => named(w.SampleId)).Concat(snapshots.Select(s => admitted[s.Request.Id] with
        {
            Response = s.Response, LogProbs = s.LogProbs,
            Cache = s.KvCache is { } entries ? new CarriedCache(version, s.Request.Prompt.Length + s.Response.Length - 1, entries) : null,
        })).ToArray();
        // Samples that finished in a step still running are reported by that step, not handed back.
        foreach (var h in handed) admitted.Remove(h.SampleId);
        unstarted.RemoveAll(w => named(w.SampleId));
        return handed;
    }

    public async Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef? other)
    {
        var requests = prompts.Select((p, i) => new GenerationRequest($"greedy-{i}", p, new SamplingParams(maxNewTokens, Temperature: 0, StopTokens: [eosId]))).ToArray();
        var bytes = other is null ? null : await WeightsLoadException.Of(other, () => readWeights(other));
        return await device.Run(() =>
        {
            // Another version than the batch's is evaluated on a copy, so the running batch keeps its weights.
            using var copy = bytes is null ? null : new Transformer(ModelCatalog.Config(limits.Model));
            if (copy is not null)
            {
                WeightsLoadException.Of(other!, () => ModelCatalog.Deserialize(copy, bytes!, other!.Object));
                copy.eval();
            }
            return ContinuousBatch.Generate(copy ?? model!, requests, Math.Min(limits.MaxBatch, 64), limits.MaxSequenceLength).Select(c => c.Response).ToArray();
        });
    }

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => (device.TakeBusySeconds(), null);

    public async ValueTask DisposeAsync()
    {
        await device.Run(() =>
        {
            batch?.Dispose();
            model?.Dispose();
        });
        device.Dispose();
    }

    private GenerationRequest ToRequest(GenerationWork w) =>
        new(w.SampleId, w.Prompt, new SamplingParams(w.MaxNewTokens, w.Temperature, Seed: w.Seed, StopTokens: [eosId]));
}
