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
/// sample) has room. A sample with tools that samples a call leaves the batch with its KV cache while the
/// call runs (the others go on), and comes back with the answer appended, its tokens marked as the tool's.
/// </summary>
public sealed class TensorGenerationEngine : IGenerationEngine
{
    // Reads a weights version's bytes (Rl.SiloWeights: from the store, or through the datacenter's relay).
    private readonly Func<WeightsRef, Task<byte[]>> readWeights;
    private readonly GenerationLimits limits;
    private readonly DeviceThread device;
    private readonly Dictionary<string, GenerationWork> admitted = [];
    private readonly List<GenerationWork> unstarted = [];
    // Admitted samples waiting for a tool's answer: their work up to the call (with its cache) and the call.
    private readonly Dictionary<string, (GenerationWork Work, Task<ToolAnswer> Answer)> calling = [];
    // Answers a call that a response's text ends with (Tools.ToolCalls, on the tool's grain).
    private readonly Func<string, ToolUse, Task<ToolAnswer>> callTool;
    private readonly Kernels.Tokenizers.ITokenizer tokenizer;
    private readonly int callToken;
    private readonly int eosId;
    private Transformer? model;
    private ContinuousBatch? batch;
    /// <summary>The loaded weights version: a KV cache made with another is not used.</summary>
    private int version = -1;

    private TensorGenerationEngine(Func<WeightsRef, Task<byte[]>> readWeights, GenerationLimits limits, string name, Func<string, ToolUse, Task<ToolAnswer>> callTool, TensorThreads threads)
    {
        (this.readWeights, this.limits, this.callTool) = (readWeights, limits, callTool);
        tokenizer = ModelCatalog.Tokenizer(limits.Model);
        eosId = tokenizer.EosId;
        callToken = tokenizer.Encode(Kernels.Tools.ToolSyntax.CallClose.ToString())[0];
        device = new DeviceThread(name, threads);
    }

    public static async Task<TensorGenerationEngine> Create(Func<WeightsRef, Task<byte[]>> readWeights, GenerationLimits limits, string name,
        Func<string, ToolUse, Task<ToolAnswer>> callTool, TensorThreads threads)
    {
        var engine = new TensorGenerationEngine(readWeights, limits, name, callTool, threads);
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
        // Nothing to step while every admitted sample waits for a tool: the first answer is waited for.
        if (unstarted.Count == 0 && calling.Count > 0 && calling.Count == admitted.Count) await Task.WhenAny(calling.Values.Select(c => c.Answer));
        var answeredOut = TakeAnswers();
        // A sample handed here waiting for its call's answer (it moved while the tool ran) asks again.
        foreach (var w in unstarted.Where(CallPending).ToArray())
        {
            unstarted.Remove(w);
            calling[w.SampleId] = (w, callTool(tokenizer.Decode(w.Response), w.Tools!));
        }
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
        foreach (var call in finished.Where(f => f.Reason == FinishReason.ToolCall && admitted.ContainsKey(f.Id)))
        {
            var work = admitted[call.Id] with
            {
                Response = call.Response, LogProbs = call.LogProbs,
                Cache = call.KvCache is { } entries ? new CarriedCache(version, call.Prompt.Length + call.Response.Length - 1, entries) : null,
            };
            calling[call.Id] = (work, callTool(tokenizer.Decode(call.Response), work.Tools!));
        }
        return [.. answeredOut, .. finished.Where(f => f.Reason != FinishReason.ToolCall && admitted.ContainsKey(f.Id)).Select(f =>
        {
            var work = admitted[f.Id];
            var turns = work.Tools is null ? null : work.Turns ?? ToolTurns.None;
            admitted.Remove(f.Id);
            return new FinishedWork(f.Id, f.Response, f.LogProbs, f.Response.Length, f.Reason == FinishReason.Length, turns is null ? null : turns with { ToolTokens = turns.Over(f.Response.Length) });
        })];
    }

    /// <summary>Whether a sample's response ends with a call still to answer (it may call, and its last token is the call's close).</summary>
    private bool CallPending(GenerationWork w) =>
        w.Tools is { } tools && (w.Turns?.Calls ?? 0) < tools.MaxTurns && w.Response.Length > 0 && w.Response[^1] == callToken
        && (w.Turns?.ToolTokens.Length ?? 0) < w.Response.Length;

    /// <summary>
    /// The samples whose calls were answered go on: the answer ("&lt;...&gt;") appended to the response, its tokens
    /// marked as the tool's (their log-probs 0: no policy sampled them), its cache up to the call. One whose answer
    /// leaves no room in its token budget ends there, truncated, with what fits of it.
    /// </summary>
    private List<FinishedWork> TakeAnswers()
    {
        var ended = new List<FinishedWork>();
        foreach (var (id, (work, answer)) in calling.Where(c => c.Value.Answer.IsCompleted).ToArray())
        {
            calling.Remove(id);
            // ToolCalls answers every failure; a call that faulted all the same is one more the model sees.
            var result = answer.IsCompletedSuccessfully ? answer.Result : new ToolAnswer("error: the call failed", ToolOutcome.Failed, 0);
            var tokens = tokenizer.Encode(Kernels.Tools.ToolSyntax.Answer(result.Text));
            var room = work.MaxNewTokens - work.Response.Length;
            var before = work.Turns ?? ToolTurns.None;
            var appended = tokens[..Math.Min(tokens.Length, Math.Max(0, room))];
            var turns = before.Answered(work.Response.Length - before.ToolTokens.Length, appended.Length, result);
            var next = work with { Response = [.. work.Response, .. appended], LogProbs = [.. work.LogProbs, .. new float[appended.Length]], Turns = turns };
            if (appended.Length >= room)
            {
                admitted.Remove(id);
                ended.Add(new FinishedWork(id, next.Response, next.LogProbs, next.Response.Length, Truncated: true, turns));
                continue;
            }
            admitted[id] = next;
            unstarted.Add(next);
        }
        return ended;
    }

    public async Task<GenerationWork[]> Progress()
    {
        // On the device thread, between steps: the batch is not changed under it.
        var snapshots = await device.Run(() => batch?.Progress() ?? []);
        return [.. snapshots.Where(s => admitted.ContainsKey(s.Request.Id)).Select(s => admitted[s.Request.Id] with { Response = s.Response, LogProbs = s.LogProbs }),
            .. calling.Values.Select(c => c.Work with { Cache = null })];
    }

    public Task<GenerationWork[]> EvictAll() => EvictWhere(_ => true, withCache: false);

    /// <remarks>The context is recomputed under the new weights: a resumed sample's tokens are then exactly the new version's.</remarks>
    public Task<GenerationWork[]> Interrupt() => EvictAll();

    /// <remarks>Real devices have no cost model here: <see cref="MigrationMove.Auto"/> sends the cache (a tensor copy against a forward pass over the whole context).</remarks>
    /// <summary>Interrupted samples keep no cache here (they are prefilled again), so a queued one leaves as it came.</summary>
    public GenerationWork Dequeued(GenerationWork work, MigrationMove move) => work;

    public Task<GenerationWork[]> Evict(IReadOnlySet<string> sampleIds, MigrationMove move) => EvictWhere(sampleIds.Contains, withCache: move != MigrationMove.Prefill);

    /// <summary>Takes out the admitted samples <paramref name="named"/> says, those running with their KV cache if <paramref name="withCache"/>.</summary>
    private async Task<GenerationWork[]> EvictWhere(Func<string, bool> named, bool withCache)
    {
        // Asked on the device thread, after the steps queued before: a step that has not run yet may be
        // the one that creates the batch and puts samples in it (reading it from here lost them under load).
        var snapshots = await device.Run(() => batch is null ? [] : batch.RunningIds.Where(named).ToArray().Select(id => batch.Evict(id, withCache)).ToArray());
        // A sample waiting for a tool leaves with its response up to the call: where it lands, the call is made again.
        var waiting = calling.Where(c => named(c.Key)).Select(c => withCache ? c.Value.Work : c.Value.Work with { Cache = null }).ToArray();
        var handed = unstarted.Where(w => named(w.SampleId)).Concat(snapshots.Select(s => admitted[s.Request.Id] with
        {
            Response = s.Response, LogProbs = s.LogProbs,
            Cache = s.KvCache is { } entries ? new CarriedCache(version, s.Request.Prompt.Length + s.Response.Length - 1, entries) : null,
        })).Concat(waiting).ToArray();
        // Samples that finished in a step still running are reported by that step, not handed back.
        foreach (var h in handed) admitted.Remove(h.SampleId);
        foreach (var w in waiting) calling.Remove(w.SampleId);
        unstarted.RemoveAll(w => named(w.SampleId));
        return handed;
    }

    public async Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef? other, ToolUse? tools)
    {
        var bytes = other is null ? null : await WeightsLoadException.Of(other, () => readWeights(other));
        // Another version than the batch's is evaluated on a copy, so the running batch keeps its weights.
        var copy = bytes is null ? null : await device.Run(() =>
        {
            var loaded = new Transformer(ModelCatalog.Config(limits.Model));
            try
            {
                WeightsLoadException.Of(other!, () => ModelCatalog.Deserialize(loaded, bytes!, other!.Object));
            }
            catch
            {
                loaded.Dispose();
                throw;
            }
            loaded.eval();
            return loaded;
        });
        try
        {
            var responses = prompts.Select(_ => new List<int>()).ToArray();
            var calls = new int[prompts.Length];
            var going = Enumerable.Range(0, prompts.Length).ToList();
            // Each round generates up to the next call (the context so far read again: greedy decoding is a
            // function of it), then answers the calls; a response without a call, or out of tokens, is done.
            while (going.Count > 0)
            {
                var requests = going.Select(i => new GenerationRequest($"greedy-{i}", [.. prompts[i], .. responses[i]], new SamplingParams(maxNewTokens - responses[i].Count, Temperature: 0,
                    StopTokens: [eosId], CallToken: tools is not null && calls[i] < tools.MaxTurns ? callToken : null))).ToArray();
                var done = await device.Run(() => ContinuousBatch.Generate(copy ?? model!, requests, Math.Min(limits.MaxBatch, 64), limits.MaxSequenceLength));
                var called = new List<(int Sample, Task<ToolAnswer> Answer)>();
                foreach (var (i, sequence) in going.Zip(done))
                {
                    responses[i].AddRange(sequence.Response);
                    if (sequence.Reason == FinishReason.ToolCall && responses[i].Count < maxNewTokens) called.Add((i, callTool(tokenizer.Decode([.. responses[i]]), tools!)));
                }
                going.Clear();
                foreach (var (i, answer) in called)
                {
                    var tokens = tokenizer.Encode(Kernels.Tools.ToolSyntax.Answer((await answer).Text));
                    calls[i]++;
                    responses[i].AddRange(tokens.Take(maxNewTokens - responses[i].Count));
                    if (responses[i].Count < maxNewTokens) going.Add(i);
                }
            }
            return [.. responses.Select(r => r.ToArray())];
        }
        finally
        {
            if (copy is not null) await device.Run(copy.Dispose);
        }
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

    /// <summary>A sample's request: with tools and calls left, the call's closing token ends its turn.</summary>
    private GenerationRequest ToRequest(GenerationWork w) =>
        new(w.SampleId, w.Prompt, new SamplingParams(w.MaxNewTokens, w.Temperature, Seed: w.Seed, StopTokens: [eosId],
            CallToken: w.Tools is { } tools && (w.Turns?.Calls ?? 0) < tools.MaxTurns ? callToken : null));
}
