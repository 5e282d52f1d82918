using Kernels.Model;
using Kernels.Pipeline;
using static TorchSharp.torch;

namespace Kernels.Generation;

/// <summary>
/// KV-cached generation over a running batch of up to <see cref="Capacity"/> sequences. Each
/// <see cref="Step"/> advances every running sequence by one token; a finished sequence leaves at once
/// and its slot takes a new one without restarting the others. A sequence can be taken out unfinished
/// (<see cref="Evict"/>) and resumed in another batch, on another worker, with the same result.
/// </summary>
public sealed class ContinuousBatch : IDisposable
{
    private readonly Transformer model;
    private readonly KvCache cache;
    private readonly Running?[] slots;
    private readonly Device device;

    public ContinuousBatch(Transformer model, int capacity, int maxLength)
    {
        if (model.Head != HeadKind.LanguageModel || !model.HasEmbedding || !model.HasHead)
        {
            throw new ArgumentException("generation needs a whole language model (embedding, every layer, LM head)", nameof(model));
        }
        this.model = model;
        device = model.parameters().First().device;
        cache = new KvCache(model.Config, capacity, maxLength, device);
        slots = new Running?[capacity];
    }

    public int Capacity => slots.Length;
    public int MaxLength => cache.MaxLength;
    public int Count => slots.Count(s => s is not null);
    public int FreeSlots => Capacity - Count;
    public IEnumerable<string> RunningIds => slots.OfType<Running>().Select(s => s.Request.Id);

    /// <summary>Admits a new sequence into a free slot.</summary>
    public void Add(GenerationRequest request) => Resume(new SequenceSnapshot(request, [], []));

    /// <summary>Admits a sequence taken out of some batch; with its cache entries it skips re-reading its context.</summary>
    public void Resume(SequenceSnapshot snapshot)
    {
        var request = snapshot.Request;
        request.Sampling.Validate();
        if (request.Prompt.Length == 0) throw new ArgumentException($"sequence '{request.Id}' has an empty prompt");
        if (request.Prompt.Concat(snapshot.Response).Any(t => t < 0 || t >= model.Config.VocabSize))
        {
            throw new ArgumentException($"sequence '{request.Id}' has a token outside the vocabulary [0, {model.Config.VocabSize})");
        }
        if (snapshot.LogProbs.Length != snapshot.Response.Length)
        {
            throw new ArgumentException($"sequence '{request.Id}' has {snapshot.Response.Length} response tokens but {snapshot.LogProbs.Length} log-probs");
        }
        if (request.Prompt.Length + snapshot.Response.Length >= MaxLength)
        {
            throw new ArgumentException($"sequence '{request.Id}' of {request.Prompt.Length + snapshot.Response.Length} tokens leaves no room in a cache of length {MaxLength}");
        }
        if (RunningIds.Contains(request.Id)) throw new ArgumentException($"sequence '{request.Id}' is already running");
        var slot = Array.IndexOf(slots, null);
        if (slot < 0) throw new InvalidOperationException($"no free slot: all {Capacity} are running");

        var running = new Running(request, slot, [.. request.Prompt, .. snapshot.Response], [.. snapshot.LogProbs]);
        if (snapshot.KvCache is { } entries)
        {
            using var scope = NewDisposeScope();
            var pairs = Enumerable.Range(0, entries.Length / 2)
                .Select(i => (TensorCodec.Decode(entries[2 * i]).to(device), TensorCodec.Decode(entries[2 * i + 1]).to(device))).ToArray();
            var length = (int)pairs[0].Item1.shape[1];
            if (length > running.Context.Count - 1)
            {
                throw new ArgumentException($"sequence '{request.Id}' brings cache entries for {length} positions, more than the {running.Context.Count - 1} before its last token");
            }
            cache.Import(slot, pairs);
            running.Fed = length;
        }
        slots[slot] = running;
    }

    /// <summary>Advances every running sequence by one token; returns those that finished (their slots are free again).</summary>
    public IReadOnlyList<CompletedSequence> Step()
    {
        var running = slots.OfType<Running>().ToList();
        if (running.Count == 0) return [];
        using (var scope = NewDisposeScope())
        using (no_grad())
        {
            // Sequences that only need their last token fed (decoding) run apart from those that must
            // read a whole prompt (prefill), so a long prompt does not pad every decoding row.
            foreach (var group in running.GroupBy(r => r.Pending == 1))
            {
                Advance(group.ToList());
            }
        }

        var finished = new List<CompletedSequence>();
        foreach (var r in running)
        {
            var last = r.Context[^1];
            FinishReason? reason =
                r.Request.Sampling.StopTokens?.Contains(last) == true ? FinishReason.Stop :
                r.ResponseLength >= r.Request.Sampling.MaxNewTokens || r.Context.Count >= MaxLength ? FinishReason.Length :
                r.Request.Sampling.CallToken == last ? FinishReason.ToolCall : null;
            if (reason is { } why)
            {
                var entries = why == FinishReason.ToolCall ? Export(r) : null;
                finished.Add(new CompletedSequence(r.Request.Id, r.Request.Prompt, r.Context.Skip(r.Request.Prompt.Length).ToArray(), [.. r.LogProbs], why, entries));
                slots[r.Slot] = null;
            }
        }
        return finished;
    }

    /// <summary>Every running sequence's tokens so far, left running (a checkpoint that a lost batch resumes from).</summary>
    public IReadOnlyList<SequenceSnapshot> Progress() =>
        [.. slots.OfType<Running>().Select(r => new SequenceSnapshot(r.Request, r.Context.Skip(r.Request.Prompt.Length).ToArray(), [.. r.LogProbs]))];

    /// <summary>Takes a running sequence out unfinished, optionally with its cache entries.</summary>
    public SequenceSnapshot Evict(string id, bool withKvCache = false)
    {
        var r = slots.OfType<Running>().FirstOrDefault(s => s.Request.Id == id)
            ?? throw new ArgumentException($"sequence '{id}' is not running here");
        var entries = withKvCache ? Export(r) : null;
        slots[r.Slot] = null;
        return new SequenceSnapshot(r.Request, r.Context.Skip(r.Request.Prompt.Length).ToArray(), [.. r.LogProbs], entries);
    }

    /// <summary>Generates every request to completion, admitting the next as slots free; results in request order.</summary>
    public static IReadOnlyList<CompletedSequence> Generate(Transformer model, IReadOnlyList<GenerationRequest> requests, int capacity, int maxLength)
    {
        using var batch = new ContinuousBatch(model, capacity, maxLength);
        var waiting = new Queue<GenerationRequest>(requests);
        var done = new Dictionary<string, CompletedSequence>();
        while (waiting.Count > 0 || batch.Count > 0)
        {
            while (waiting.Count > 0 && batch.FreeSlots > 0) batch.Add(waiting.Dequeue());
            foreach (var c in batch.Step()) done[c.Id] = c;
        }
        return requests.Select(r => done[r.Id]).ToArray();
    }

    public void Dispose() => cache.Dispose();

    /// <summary>A running sequence's cache entries for the positions fed so far (TensorCodec buffers, keys and values per layer); null before any.</summary>
    private byte[][]? Export(Running r)
    {
        if (r.Fed == 0) return null;
        using var scope = NewDisposeScope();
        return [.. cache.Export(r.Slot, r.Fed).SelectMany(e => new[] { TensorCodec.Encode(e.Keys), TensorCodec.Encode(e.Values) })];
    }

    /// <summary>Feeds each row's unread tokens at their positions, then samples each row's next token.</summary>
    private void Advance(List<Running> rows)
    {
        var width = rows.Max(r => r.Pending);
        var tokens = new long[rows.Count * width];
        var positions = new long[rows.Count * width];
        for (var i = 0; i < rows.Count; i++)
        {
            var r = rows[i];
            for (var t = 0; t < width; t++)
            {
                // Padding positions lie past the row's context: whatever they write there is overwritten
                // before any real query can attend to it.
                tokens[i * width + t] = t < r.Pending ? r.Context[r.Fed + t] : 0;
                positions[i * width + t] = Math.Min(r.Fed + t, MaxLength - 1);
            }
        }
        var logits = model.Forward(
            tensor(tokens, device: device).view(rows.Count, width),
            cache,
            tensor(rows.Select(r => (long)r.Slot).ToArray(), device: device),
            tensor(positions, device: device).view(rows.Count, width));
        var lastIndex = tensor(rows.Select(r => (long)r.Pending - 1).ToArray(), device: device).view(-1, 1, 1).expand(-1, 1, logits.shape[2]);
        var last = logits.gather(1, lastIndex).squeeze(1);

        foreach (var r in rows) r.Fed = r.Context.Count;
        var picks = TokenSampler.Sample(last, rows.Select(r => (r.Request.Sampling, r.ResponseLength)).ToArray());
        for (var i = 0; i < rows.Count; i++)
        {
            rows[i].Context.Add(picks[i].Token);
            rows[i].LogProbs.Add(picks[i].LogProb);
        }
    }

    private sealed class Running(GenerationRequest request, int slot, List<int> context, List<float> logProbs)
    {
        public GenerationRequest Request { get; } = request;
        public int Slot { get; } = slot;
        /// <summary>Prompt followed by the response so far.</summary>
        public List<int> Context { get; } = context;
        public List<float> LogProbs { get; } = logProbs;
        /// <summary>How many leading context tokens have their keys and values in the cache.</summary>
        public int Fed { get; set; }
        public int Pending => Context.Count - Fed;
        public int ResponseLength => Context.Count - Request.Prompt.Length;
    }
}
