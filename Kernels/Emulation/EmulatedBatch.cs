namespace Kernels.Emulation;

/// <summary>
/// An emulated sequence: its prompt's length, the response length it will reach, and how far it has come;
/// <see cref="CacheCarried"/>: moved from another worker with its KV cache, which arrives over the batch's
/// link instead of its context being prefilled again; <see cref="CacheKept"/>: resumed on the device that
/// already holds its KV cache (a partial rollout interrupted by a weights update), so it needs neither.
/// </summary>
public sealed record EmulatedSequence(string Id, int PromptLength, int TargetLength, int Generated = 0, bool CacheCarried = false, bool CacheKept = false)
{
    public int Context => PromptLength + Generated;
}

/// <summary>
/// Continuous batching without tensors: the same admission and stepping as the real batch, but each
/// step yields token counts and the seconds the cost model gives for it (the prefill of newly admitted
/// prompts plus one decoding step of every running sequence). A sequence finishes when it reaches its
/// target length; one can be taken out unfinished and resumed in another batch, prefilled again or with
/// its KV cache sent over <paramref name="cacheLink"/>.
/// </summary>
public sealed class EmulatedBatch(CostModel cost, int capacity, Link? cacheLink = null)
{
    private readonly List<EmulatedSequence> running = [];
    private readonly List<EmulatedSequence> unfilled = [];

    public int Capacity { get; } = capacity >= 1 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "at least 1");
    public int Count => running.Count + unfilled.Count;
    public int FreeSlots => Capacity - Count;
    public bool Holds(string id) => running.Concat(unfilled).Any(s => s.Id == id);

    /// <summary>Whether the sequence's KV cache is in this batch: it has been prefilled here, or was kept here.</summary>
    public bool HoldsCache(string id) => running.Any(s => s.Id == id) || unfilled.Any(s => s.Id == id && s.CacheKept);

    public long CachedTokens => running.Concat(unfilled).Sum(s => (long)s.Context);

    /// <summary>Whether a sequence fits now: a free slot, and room in the KV cache for its whole context at its target length.</summary>
    public bool Fits(EmulatedSequence sequence) =>
        FreeSlots > 0 && running.Concat(unfilled).Sum(s => (long)s.PromptLength + s.TargetLength) + sequence.PromptLength + sequence.TargetLength <= cost.MaxCachedTokens();

    /// <summary>Admits a sequence (new, or resumed with its tokens so far); it is prefilled on the next step.</summary>
    public void Add(EmulatedSequence sequence)
    {
        if (sequence.PromptLength < 1 || sequence.TargetLength < 1 || sequence.Generated >= sequence.TargetLength)
        {
            throw new ArgumentException($"sequence '{sequence.Id}' needs a prompt, a target length of at least 1 and tokens left to generate");
        }
        if (FreeSlots == 0) throw new InvalidOperationException($"no free slot: all {Capacity} are running");
        if (sequence.CacheCarried && cacheLink is null) throw new ArgumentException($"sequence '{sequence.Id}' brings its KV cache to a batch with no link for it to arrive over");
        if (running.Concat(unfilled).Any(s => s.Id == sequence.Id)) throw new ArgumentException($"sequence '{sequence.Id}' is already running");
        unfilled.Add(sequence);
    }

    /// <summary>
    /// One step: prefill what was admitted (or receive the KV caches of those that brought theirs; those whose
    /// cache stayed here cost nothing), then every running sequence gains a token. Returns the step's seconds
    /// and the sequences that finished.
    /// </summary>
    public (double Seconds, IReadOnlyList<EmulatedSequence> Finished) Step()
    {
        if (Count == 0) return (0, []);
        int[] prefilled = [.. unfilled.Where(s => !s.CacheCarried && !s.CacheKept).Select(s => s.Context)];
        int[] carried = [.. unfilled.Where(s => s.CacheCarried).Select(s => s.Context)];
        var seconds = (prefilled.Length > 0 ? cost.PrefillSeconds(prefilled) : 0) + (carried.Length > 0 ? cost.CacheTransferSeconds(carried, cacheLink!) : 0);
        // Once here its cache is this batch's: moved again, it is carried (or not) anew.
        running.AddRange(unfilled.Select(s => s with { CacheCarried = false, CacheKept = false }));
        unfilled.Clear();
        seconds += cost.DecodeStepSeconds(running.Select(s => s.Context).ToArray());
        for (var i = 0; i < running.Count; i++) running[i] = running[i] with { Generated = running[i].Generated + 1 };
        var finished = running.Where(s => s.Generated >= s.TargetLength).ToArray();
        running.RemoveAll(s => s.Generated >= s.TargetLength);
        return (seconds, finished);
    }

    /// <summary>
    /// Steps until a sequence finishes: the seconds and finished sequences of as many <see cref="Step"/>
    /// calls, in one (nothing joins or leaves the batch in between, so each step's time follows from the
    /// count and the contexts' sum). What a simulation that admits only as sequences finish steps with.
    /// </summary>
    public (double Seconds, IReadOnlyList<EmulatedSequence> Finished) Leap()
    {
        var (seconds, finished) = Step();
        if (finished.Count > 0 || running.Count == 0) return (seconds, finished);
        var steps = running.Min(s => s.TargetLength - s.Generated);
        var context = running.Sum(s => (double)s.Context);
        for (var j = 0; j < steps; j++) seconds += cost.DecodeStepSeconds(running.Count, context + (double)j * running.Count);
        for (var i = 0; i < running.Count; i++) running[i] = running[i] with { Generated = running[i].Generated + steps };
        finished = [.. running.Where(s => s.Generated >= s.TargetLength)];
        running.RemoveAll(s => s.Generated >= s.TargetLength);
        return (seconds, finished);
    }

    /// <summary>Every sequence in the batch as it stands, left running (a checkpoint of its tokens so far).</summary>
    public IReadOnlyList<EmulatedSequence> Sequences => [.. running, .. unfilled];

    /// <summary>Takes a sequence out unfinished, with its tokens so far.</summary>
    public EmulatedSequence Evict(string id)
    {
        var sequence = running.Concat(unfilled).FirstOrDefault(s => s.Id == id) ?? throw new ArgumentException($"sequence '{id}' is not running here");
        running.Remove(sequence);
        unfilled.Remove(sequence);
        return sequence;
    }

    /// <summary>
    /// Generates every sequence, admitting in order as slots and cache allow; the seconds it takes and
    /// when each finished. This is the analytic prediction a measured emulated run is checked against.
    /// </summary>
    public static (double Seconds, IReadOnlyDictionary<string, double> FinishedAt) Simulate(CostModel cost, int capacity, IReadOnlyList<EmulatedSequence> sequences)
    {
        var batch = new EmulatedBatch(cost, capacity);
        var waiting = new Queue<EmulatedSequence>(sequences);
        var finishedAt = new Dictionary<string, double>();
        var clock = 0.0;
        while (waiting.Count > 0 || batch.Count > 0)
        {
            while (waiting.Count > 0 && (batch.Fits(waiting.Peek()) || batch.Count == 0)) batch.Add(waiting.Dequeue());
            var (seconds, finished) = batch.Step();
            clock += seconds;
            foreach (var f in finished) finishedAt[f.Id] = clock;
        }
        return (clock, finishedAt);
    }
}
