using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// Generation on an emulated device: an <see cref="EmulatedBatch"/> of token counts whose steps take the
/// cost model's seconds on the device's clock. Each sample's response length is drawn from the job's
/// distribution by its seed; a sample fits while the batch has a slot and the KV cache room for it at
/// its full length. Each advance runs the batch step by step until a sample finishes (or about a
/// twentieth of a wall second's worth), and occupies the device for the steps' seconds.
/// </summary>
public sealed class EmulatedGenerationEngine : IGenerationEngine
{
    private const double WallQuantum = 0.05;
    private readonly CostModel cost;
    private readonly LengthModel lengths;
    private readonly Link link;
    private readonly IDeviceTime clock;
    private readonly EmulatedBatch batch;
    /// <summary>Admitted and not yet reported: running, or finished in steps whose time has not yet passed.</summary>
    private readonly Dictionary<string, GenerationWork> admitted = [];
    private (Task End, FinishedWork[] Done, EmulatedSequence[] Calls)? inFlight;
    /// <summary>The loaded weight version: responses grow with it (the length model's drift).</summary>
    private int version;
    private readonly bool colocated;
    private readonly CacheTransfer transfer;
    private readonly bool keepInterrupted;
    /// <summary>Interrupted samples whose KV cache this device kept, with the context it holds.</summary>
    private readonly Dictionary<string, int> kept = [];
    /// <summary>The samples' tool calls, with rl.emulation.tools; null without.</summary>
    private readonly EmulatedToolCalls? tools;

    /// <param name="clock">The device's time line (a colocated device's is shared with its other roles).</param>
    public EmulatedGenerationEngine(EmulatedGenerator setup, GenerationLimits limits, IDeviceTime clock)
    {
        cost = EmulatedCosts.Of(setup.Device);
        lengths = EmulatedCosts.Lengths(setup);
        link = Link.Parse(setup.WeightLink);
        this.clock = clock;
        colocated = setup.Device.Hybrid is not null;
        // Workers send each other moved samples' KV caches over the network their weights arrive on.
        batch = new EmulatedBatch(cost, limits.MaxBatch, link);
        transfer = new CacheTransfer(link);
        keepInterrupted = limits.InterruptedCache == InterruptedCache.Auto;
        weightSeconds = WeightSeconds(cost, link, setup.CrossDatacenterLink is { } crossing ? Link.Parse(crossing) : null, setup.Workers);
        tools = setup.Tools is { } t ? new EmulatedToolCalls(new ToolCallPlan(t.CallsPerSample, t.MaxTurns, t.LatencyMedianSeconds, t.LatencySigma, t.ResultTokens), clock.TimeScale) : null;
    }

    private readonly double weightSeconds;

    /// <summary>
    /// How long a version takes to reach a worker: over the weight link from the trainers; from another
    /// datacenter, once over the link between them and then down a binary tree of the workers, each hop a
    /// whole copy over the weight link (store and forward, so a bound: chunked relays overlap the hops).
    /// Every worker is counted at the tree's depth, ceil(log2(workers + 1)).
    /// </summary>
    public static double WeightSeconds(CostModel cost, Link link, Link? crossing, int workers) => crossing is null
        ? cost.WeightTransferSeconds(link)
        : cost.WeightTransferSeconds(crossing) + Math.Ceiling(Math.Log2(workers + 1)) * cost.WeightTransferSeconds(link);

    public int Count => admitted.Count;

    public bool Holds(string sampleId) => admitted.ContainsKey(sampleId);

    /// <summary>
    /// The new weights cross the link (the store holds nothing for an emulated model); on a colocated
    /// device they are already here, and the switch back from training regathers them.
    /// </summary>
    public Task LoadWeights(WeightsRef weights)
    {
        version = weights.Version;
        return clock.Occupy(colocated ? 0 : weightSeconds, "weights");
    }

    public bool TryAdmit(GenerationWork work)
    {
        // A sample's length is drawn with the version its step names, however often it resumes and wherever: its
        // first span is the version of the worker that first admitted it, which with partial rollouts may be newer
        // (a resumed sample drew with that one: it came out longer after a move or a second interrupt). A sample
        // that names none began under the first span's version, or this worker's.
        var began = work.Weights?.Version ?? (work.Spans is { Length: > 0 } spans ? spans[0].Version : version);
        var length = EmulatedCosts.ResponseLength(lengths, work.PromptSeed, work.Seed, began, work.MaxNewTokens);
        // With tools, the batch runs it to its next call (its length counts the results' tokens).
        var sequence = new EmulatedSequence(work.SampleId, work.PromptTokens, tools is null ? length : tools.Admit(work, length), work.GeneratedTokens,
            CacheCarried: work.Cache is { } c && c.Version == version);
        if (tools is not null) sequence = sequence with { TargetLength = tools.Target(work.SampleId) };
        sequence = sequence with { CacheKept = kept.TryGetValue(work.SampleId, out var context) && context == sequence.Context };
        var atCall = sequence.TargetLength <= sequence.Generated;
        if (!atCall && batch.Count > 0 && !batch.Fits(sequence))
        {
            tools?.Leave(work.SampleId);
            return false;
        }
        // Handed here while its call ran: it asks again, and enters the batch when answered.
        if (atCall) tools!.Call(sequence);
        else batch.Add(sequence);
        kept.Remove(work.SampleId);
        admitted[work.SampleId] = work with { Cache = null };
        return true;
    }

    public async Task<IReadOnlyList<FinishedWork>> Advance()
    {
        var answered = Answered();
        // Every sample here waits for a tool: the device idles until the first answer (the tail tools widen).
        if (tools is { WaitingCount: > 0 } && batch.Count == 0 && answered.Count == 0 && inFlight is not { Done.Length: > 0 } && inFlight is not { Calls.Length: > 0 })
        {
            await Task.Delay(TimeSpan.FromSeconds(tools.UntilFirstAnswer()));
            answered = Answered();
        }
        var seconds = 0.0;
        IReadOnlyList<EmulatedSequence> finished = [];
        while (batch.Count > 0 && finished.Count == 0 && seconds < WallQuantum * clock.TimeScale)
        {
            (var step, finished) = batch.Step();
            seconds += step;
        }
        // Like a GPU's launch queue: these steps are queued behind the ones in flight, and the worker
        // then waits for those to end and reports what finished in them. Its bookkeeping overlaps the
        // device's work, as a real scheduler's does; only a hand-over slower than a whole chunk leaves
        // the device idle.
        var calls = finished.Where(f => tools?.AtCall(f) == true).ToArray();
        var issued = (batch.Count > 0 || finished.Count > 0 ? clock.Occupy(seconds, "generation") : Task.CompletedTask,
            finished.Except(calls).Select(f => Finished(f.Id, f.TargetLength)).ToArray(), calls);
        var previous = inFlight;
        inFlight = issued;
        if (previous is null) return answered;
        await previous.Value.End;
        // A call is made once the steps that reached it have run.
        foreach (var call in previous.Value.Calls) tools!.Call(call);
        foreach (var f in previous.Value.Done) Forget(f.SampleId);
        return [.. answered, .. previous.Value.Done];
    }

    /// <summary>A sample that reached its whole length (truncated if that is its token budget), with its tool turns.</summary>
    private FinishedWork Finished(string id, int length) => new(id, [], [], length, length >= admitted[id].MaxNewTokens, tools?.Turns(id));

    /// <summary>The samples whose tool answered: back into the batch as room allows, or ended (the result took them to their length).</summary>
    private List<FinishedWork> Answered()
    {
        if (tools is not { WaitingCount: > 0 }) return [];
        var ended = new List<FinishedWork>();
        foreach (var (id, resume) in tools.Answered(s => batch.Count == 0 || batch.Fits(s)))
        {
            if (resume is not null)
            {
                batch.Add(resume);
                continue;
            }
            ended.Add(Finished(id, tools.Length(id)));
            Forget(id);
        }
        return ended;
    }

    private void Forget(string id)
    {
        admitted.Remove(id);
        tools?.Leave(id);
    }

    public Task<GenerationWork[]> Progress() =>
        Task.FromResult<GenerationWork[]>([.. batch.Sequences.Concat(tools?.WaitingSequences ?? []).Where(s => admitted.ContainsKey(s.Id))
            .Select(s => admitted[s.Id] with { EmulatedGenerated = s.Generated, Turns = tools?.Turns(s.Id) })]);

    public Task<GenerationWork[]> EvictAll()
    {
        kept.Clear();
        return Evict(admitted.Keys.ToHashSet(), MigrationMove.Prefill);
    }

    /// <summary>
    /// The interrupted samples' KV caches stay on this device unless the job asks to recompute them: resuming
    /// on a kept cache takes no device time, where prefilling the context takes the cost model's
    /// <see cref="CostModel.PrefillSeconds"/>; the keys and values of its tokens so far then stay those the
    /// older version computed. A sample that resumes on another worker takes its kept cache along when it
    /// is sent (<see cref="Dequeued"/>), or is prefilled there.
    /// </summary>
    public async Task<GenerationWork[]> Interrupt()
    {
        var resident = admitted.Keys.Where(batch.HoldsCache).ToHashSet();
        var interrupted = await Evict(admitted.Keys.ToHashSet(), MigrationMove.Prefill);
        foreach (var w in interrupted.Where(w => keepInterrupted && resident.Contains(w.SampleId))) kept[w.SampleId] = w.PromptTokens + w.EmulatedGenerated;
        return interrupted;
    }

    /// <summary>
    /// A kept cache is of the version this device has loaded since (kept caches resume under it), so it
    /// travels as that version's: a worker on it resumes without a prefill.
    /// </summary>
    public GenerationWork Dequeued(GenerationWork work, MigrationMove move) =>
        kept.Remove(work.SampleId, out var context) && context == work.PromptTokens + work.GeneratedTokens && Carries(move, context)
            ? work with { Cache = new CarriedCache(version, context, []) }
            : work;

    /// <summary>Whether a cache of <paramref name="context"/> positions goes with its sample: always, never, or when sending it is sooner than prefilling it.</summary>
    private bool Carries(MigrationMove move, int context) => move != MigrationMove.Prefill && (transfer with { Always = move == MigrationMove.Cache }).Carries(cost, context);

    public Task<GenerationWork[]> Evict(IReadOnlySet<string> sampleIds, MigrationMove move)
    {
        // Samples that finished in steps still being waited for are reported by them, not handed back.
        var handed = admitted.Values.Where(w => sampleIds.Contains(w.SampleId) && batch.Holds(w.SampleId)).Select(w =>
        {
            var sequence = batch.Evict(w.SampleId);
            // Only its size counts here: the cache travels if the move says so, or if the cost model says sending it is sooner.
            var carried = sequence.Generated > 0 && Carries(move, sequence.Context);
            return w with { EmulatedGenerated = sequence.Generated, Cache = carried ? new CarriedCache(version, sequence.Context, []) : null, Turns = tools?.Turns(w.SampleId) };
        }).ToArray();
        // Those waiting for a tool leave with their tokens up to the call; where they land, they call again.
        var calling = tools is null ? [] : admitted.Values.Where(w => sampleIds.Contains(w.SampleId) && tools.IsWaiting(w.SampleId))
            .Select(w => w with { EmulatedGenerated = tools.Waiting(w.SampleId).Generated, Turns = tools.Turns(w.SampleId) }).ToArray();
        handed = [.. handed, .. calling];
        foreach (var h in handed) Forget(h.SampleId);
        return Task.FromResult(handed);
    }

    public Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef? other, ToolUse? tools) =>
        throw new NotSupportedException("an emulated worker makes no tokens, so it has no greedy responses to evaluate");

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => clock.Take();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
