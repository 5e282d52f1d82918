using Kernels.Emulation;
using Grains.Interfaces.Jobs;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Grains.Telemetry;
using Microsoft.Extensions.Logging;

namespace Grains.Rl;

/// <summary>
/// A generation worker on one device of a generation silo, real or emulated (its engine). Its loop
/// admits queued samples while the engine says they fit, advances the batch, and reports each finished
/// sample to its sample grain at once. The loop is not a grain call, so Submit, HandBack and the rest
/// are answered between its steps. A sample names the weights version it is generated with: one of
/// another version waits until the batch has emptied, then the worker loads that version; with partial
/// rollouts a newer version instead interrupts the batch, whose samples go on under it from their tokens so far.
/// </summary>
[DevicePlacement(SiloRoles.Generation)]
public sealed class GenerationWorkerGrain(SiloWeights siloWeights, HybridDevices hybrids, TensorThreads threads, ILogger<GenerationWorkerGrain> logger) : DeviceGrain, IGenerationWorkerGrain
{
    // How long a drained worker waits for its job to take its samples before it leaves with them.
    private static readonly TimeSpan HandBackWait = TimeSpan.FromSeconds(30);
    private readonly LinkedList<GenerationWork> waiting = new();
    // Admitted samples, until their sample grain has their response: what Holding() answers with the queue.
    private readonly HashSet<string> running = [];
    // The work of each sample in the batch, the version it was admitted under (its tokens from then on are that
    // version's) and when (the ranker's forecast halfway through a step tells a waiting sample from a long one).
    private readonly Dictionary<string, (GenerationWork Work, int Version, DateTimeOffset Began)> batch = [];
    // The step of the samples in the batch (without partial rollouts a batch holds one step's).
    private int batchStep;
    private GenerationLimits? limits;
    private IGenerationEngine? engine;
    private int version = -1;
    // While a version loads, nothing is admitted: its samples' tokens would be labelled with the old one.
    private Task? loadingVersion;
    // Why this worker admits nothing more (a weights version failed to load), or null.
    private string? stopped;
    private Task? loop;
    // Partial rollouts: how many tokens each sample had when the job was last told of it.
    private readonly Dictionary<string, int> told = [];
    // The weights transfers this worker's reads caused since its usage was last taken.
    private readonly List<WeightHop> hops = [];
    // This worker's queue depth in the silo's metrics, while it serves a job.
    private IDisposable? queueGauge;

    private int InFlight => waiting.Count + (engine?.Count ?? 0);

    public async Task Configure(GenerationLimits configured)
    {
        if (configured.MaxBatch < 1 || configured.MaxTokens < 1 || configured.MaxSequenceLength < 2)
        {
            throw new ArgumentException($"generation limits must be positive (maxBatch {configured.MaxBatch}, maxTokens {configured.MaxTokens}, maxSequenceLength {configured.MaxSequenceLength})");
        }
        if (limits == configured) return;
        if (InFlight > 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} cannot change its limits while {InFlight} samples are in it");
        if (engine is not null) await engine.DisposeAsync();
        engine = null;
        (limits, version) = (configured, -1);
        queueGauge?.Dispose();
        queueGauge = ActorsMeter.WatchQueue(this.GetPrimaryKeyString(), configured.Job ?? "", () => (waiting.Count, batch.Count));
        engine = configured.Emulated is { } emulated
            ? new EmulatedGenerationEngine(emulated, configured, hybrids.For(this.GetPrimaryKeyString(), emulated.Device, DeviceRole.Generation))
            : await TensorGenerationEngine.Create(w => siloWeights.Read(w, hops), configured, $"generation {this.GetPrimaryKeyString()}",
                (response, use) => Tools.ToolCalls.Answer(GrainFactory, configured.Job ?? this.GetPrimaryKeyString(), response, use, Models.ModelCatalog.Tokenizer(configured.Model)), threads);
    }

    /// <summary>
    /// Loads a version now on an idle worker. A busy one keeps its batch: with partial rollouts a newer
    /// version interrupts it (an older one changes nothing: its samples may go on under newer weights);
    /// without, its samples name their versions and it loads each as the batch before empties. A job that
    /// readies a worker again after a silo's loss may so ask at any time (measured: a revived worker,
    /// already given another step's samples, was refused and the job failed).
    /// </summary>
    public async Task LoadWeights(WeightsRef weights)
    {
        if (stopped is not null) throw new WorkerStoppedException(stopped);
        if (engine is null) throw new StateLostException($"{this.GetPrimaryKeyString()} is not configured");
        if (weights.Version == version || (InFlight > 0 && !(limits!.PartialRollouts && weights.Version > version))) return;
        await Load(weights);
    }

    public Task Submit(GenerationWork[] work)
    {
        if (stopped is not null) throw new WorkerStoppedException(stopped);
        // A new activation (its silo lost since the job readied it) says so: the job's audit readies it again.
        if (engine is null || limits is null) throw new StateLostException($"{this.GetPrimaryKeyString()} is not configured");
        foreach (var w in work)
        {
            if (w.PromptTokens + w.MaxNewTokens >= limits.MaxSequenceLength)
            {
                throw new ArgumentException($"sample {w.SampleId}: prompt of {w.PromptTokens} tokens + {w.MaxNewTokens} new tokens exceeds the worker's sequence length {limits.MaxSequenceLength}");
            }
            if (w.Weights is null && version < 0) throw new StateLostException($"{this.GetPrimaryKeyString()} has no weights yet");
            if (engine.Holds(w.SampleId) || waiting.Any(q => q.SampleId == w.SampleId)) continue;
            Enqueue(w);
        }
        loop = loop is { IsCompleted: false } ? loop : RunLoop();
        return Task.CompletedTask;
    }

    /// <summary>
    /// Queues a sample ahead of those of later steps: an older step's sample sent here again after its
    /// worker's loss would otherwise wait behind the newer steps' queue while its own step, the one
    /// training waits for, holds back (measured: the emulated chaos runs' long steps).
    /// </summary>
    private void Enqueue(GenerationWork work)
    {
        var later = waiting.First;
        while (later is not null && later.Value.Step <= work.Step) later = later.Next;
        if (later is null) waiting.AddLast(work);
        else waiting.AddBefore(later, work);
    }

    public async Task<GenerationWork[]> Release(string[] sampleIds, int most, MigrationMove move)
    {
        var named = sampleIds.ToHashSet();
        var released = new List<GenerationWork>();
        for (var node = waiting.Last; node is not null && released.Count < most;)
        {
            var before = node.Previous;
            if (named.Contains(node.Value.SampleId))
            {
                released.Add(engine?.Dequeued(node.Value, move) ?? node.Value);
                waiting.Remove(node);
            }
            node = before;
        }
        if (released.Count < most && engine is not null && batch.Keys.Any(named.Contains))
        {
            // Then from the batch, the furthest along first: they weigh most on its steps (their KV cache),
            // and each goes on from its tokens so far; admitted ones not yet begun come last.
            var tokens = (await engine.Progress()).ToDictionary(w => w.SampleId, w => w.GeneratedTokens);
            var longest = batch.Keys.Where(named.Contains).OrderByDescending(id => tokens.GetValueOrDefault(id, -1)).Take(most - released.Count);
            var evicted = await engine.Evict(longest.ToHashSet(), move);
            released.AddRange(evicted.Select(Progressed));
            running.ExceptWith(evicted.Select(w => w.SampleId));
        }
        return [.. released];
    }

    public async Task<GenerationWork[]> HandBack()
    {
        var handed = waiting.ToList();
        waiting.Clear();
        if (engine is not null) handed.AddRange((await engine.EvictAll()).Select(Progressed));
        running.ExceptWith(handed.Select(w => w.SampleId));
        return [.. handed];
    }

    /// <summary>
    /// Its silo is drained. A worker holding samples tells its job, which takes them off it with their
    /// tokens so far (as when a worker leaves an elastic pool), sends them to its other workers and then
    /// vacates it; so none is generated again from its prompt. One holding none leaves at once; one whose
    /// job does not come within <see cref="HandBackWait"/> (the job gone, or this its last worker) leaves
    /// then, and the job's audit sends its samples again.
    /// </summary>
    public override Task Drain()
    {
        if (InFlight == 0 || limits?.Job is not { } job) return Vacate();
        logger.LogInformation("{Worker}: its silo is drained; handing {Count} samples back to job {Job}", this.GetPrimaryKeyString(), InFlight, job);
        this.RegisterGrainTimer(_ =>
        {
            this.DeactivateOnIdle();
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions(HandBackWait, Timeout.InfiniteTimeSpan));
        return GrainFactory.GetGrain<IJobGrain>(job).WorkerDrained(this.GetPrimaryKeyString());
    }

    public async Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef weights, ToolUse? tools)
    {
        if (stopped is not null) throw new WorkerStoppedException(stopped);
        if (engine is null) throw new StateLostException($"{this.GetPrimaryKeyString()} is not configured");
        try
        {
            return await engine.Greedy(prompts, maxNewTokens, weights.Version == version ? null : weights, tools);
        }
        catch (WeightsLoadException e)
        {
            // An asynchronous worker evaluates a version before its samples need it: the load fails here first.
            throw Stop(e);
        }
    }

    public Task<int> Pending() => Task.FromResult(InFlight);

    public Task<string[]> Holding() => Task.FromResult<string[]>([.. waiting.Select(w => w.SampleId), .. running]);

    public Task<DeviceUsage> TakeUsage()
    {
        var (busy, intervals) = engine?.TakeUsage() ?? (0, null);
        var weightBytes = hops.GroupBy(h => h.Link).ToDictionary(g => g.Key, g => g.Sum(h => h.Bytes));
        hops.Clear();
        return Task.FromResult(new DeviceUsage(this.GetPrimaryKeyString(), Lease.Silo, Lease.Device, busy, intervals) { WeightBytes = weightBytes });
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        queueGauge?.Dispose();
        if (engine is not null) await engine.DisposeAsync();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    /// <summary>
    /// A sample admits under the loaded version if it names none, names it, or (partial rollouts) names an
    /// older one; without partial rollouts, only beside samples of its own step (decoding is not
    /// batch-invariant, so mixing steps as timing allows would change their log-probs in the last bits).
    /// </summary>
    private bool Admissible(GenerationWork work) =>
        loadingVersion is not { IsCompleted: false }
        && (work.Weights is null || work.Weights.Version == version || (limits!.PartialRollouts && work.Weights.Version < version))
        && (limits!.PartialRollouts || batch.Count == 0 || batchStep == work.Step);

    /// <summary>
    /// Loads a version. A busy batch (partial rollouts only) is interrupted first: its samples go back to
    /// the head of the queue with their tokens so far and are admitted again under the new version, their
    /// context recomputed (or, on an emulated device, their KV cache kept where the cost model says so).
    /// </summary>
    private async Task Load(WeightsRef weights)
    {
        // One load at a time: the loop and a LoadWeights call may both ask for the same version.
        while (loadingVersion is { IsCompleted: false } other) await other;
        if (weights.Version == version || (limits!.PartialRollouts && weights.Version < version)) return;
        loadingVersion = Interrupt(weights);
        await loadingVersion;
        if (waiting.Count > 0) loop = loop is { IsCompleted: false } ? loop : RunLoop();
    }

    private async Task Interrupt(WeightsRef weights)
    {
        var interrupted = engine!.Count > 0 ? await engine.Interrupt() : [];
        foreach (var w in interrupted.Reverse()) waiting.AddFirst(Progressed(w));
        try
        {
            await engine.LoadWeights(weights);
        }
        catch (WeightsLoadException e)
        {
            throw Stop(e);
        }
        version = weights.Version;
    }

    /// <summary>
    /// The worker stops admitting: what waits in it is given up (the job's audit sends it elsewhere); a batch
    /// already decoding under a loaded version finishes.
    /// </summary>
    private WorkerStoppedException Stop(WeightsLoadException e)
    {
        stopped = $"{this.GetPrimaryKeyString()} stopped: {e.Message}";
        logger.LogError("{Stopped}", stopped);
        waiting.Clear();
        return new WorkerStoppedException(stopped);
    }

    /// <summary>
    /// Its engine failed mid-batch: its state is not to be trusted, so the worker stops as for a version that
    /// failed to load, drops the engine and gives up every sample it holds, batch included. Holding() then answers none, so
    /// the job's audit sends them to its other workers, and its next Submit tells the job why (a notice).
    /// Before, the loop's task faulted unobserved and its samples stayed "held" here: the job hung.
    /// </summary>
    private async Task Fail(Exception e)
    {
        // A worker already stopped keeps the first reason: the job notices each reason it is told once.
        stopped ??= $"{this.GetPrimaryKeyString()} stopped: generation failed: {e.GetBaseException().Message}";
        logger.LogError(e, "{Stopped}", stopped);
        waiting.Clear();
        var failed = engine;
        engine = null;
        try
        {
            await failed!.DisposeAsync();
        }
        catch (Exception again)
        {
            logger.LogWarning(again, "{Worker}: its failed engine could not be disposed", this.GetPrimaryKeyString());
        }
        batch.Clear();
        told.Clear();
        running.Clear();
    }

    /// <summary>Evicted work with the span its last admission added.</summary>
    private GenerationWork Progressed(GenerationWork evicted)
    {
        told.Remove(evicted.SampleId);
        if (!batch.Remove(evicted.SampleId, out var admitted)) return evicted;
        return evicted with { Spans = Spans(admitted.Work, admitted.Version, evicted.GeneratedTokens) };
    }

    /// <summary>
    /// With partial rollouts, tells the job the tokens so far of the samples that made
    /// <see cref="ProgressReports.Tokens"/> more since it was last told (or since admitted): a sample lost with
    /// this silo goes on from them on another worker. One message for the batch, not one per sample.
    /// </summary>
    private async Task TellProgress()
    {
        if (limits is not { PartialRollouts: true, Progress: { } reports }) return;
        var grown = (await engine!.Progress())
            .Where(w => batch.ContainsKey(w.SampleId) && w.GeneratedTokens - (told.TryGetValue(w.SampleId, out var before) ? before : batch[w.SampleId].Work.GeneratedTokens) >= reports.Tokens)
            .Select(w => w with { Spans = Spans(batch[w.SampleId].Work, batch[w.SampleId].Version, w.GeneratedTokens) })
            .ToArray();
        if (grown.Length == 0) return;
        foreach (var w in grown) told[w.SampleId] = w.GeneratedTokens;
        GrainFactory.GetGrain<IJobGrain>(reports.Job).SamplesProgressed(grown).Ignore();
    }

    private static VersionSpan[] Spans(GenerationWork admitted, int version, int tokensNow)
    {
        var before = admitted.Spans ?? [];
        var added = tokensNow - admitted.GeneratedTokens;
        if (added <= 0) return before;
        return before.Length > 0 && before[^1].Version == version
            ? [.. before[..^1], before[^1] with { Tokens = before[^1].Tokens + added }]
            : [.. before, new VersionSpan(version, added)];
    }

    private async Task RunLoop()
    {
        var reports = new List<Task>();
        try
        {
            await Generate(reports);
        }
        catch (Exception e)
        {
            await Fail(e);
            await Task.WhenAll(reports);
        }
    }

    private async Task Generate(List<Task> reports)
    {
        while (true)
        {
            while (waiting.Count > 0 || engine!.Count > 0)
            {
                if (loadingVersion is { IsCompleted: false } load)
                {
                    // A load the job asked for: if it fails, it has stopped the worker already (and told the
                    // job why); what is decoding under the loaded version finishes.
                    try
                    {
                        await load;
                    }
                    catch (WorkerStoppedException)
                    {
                    }
                    continue;
                }
                // Samples of another weight version wait until the batch has emptied (or, with partial rollouts, interrupt it for a newer one).
                if (waiting.First?.Value.Weights is { } next && !Admissible(waiting.First.Value) && (engine!.Count == 0 || limits!.PartialRollouts))
                {
                    try
                    {
                        await Load(next);
                    }
                    catch (WorkerStoppedException)
                    {
                        continue;
                    }
                }
                while (waiting.First is { } head && Admissible(head.Value) && engine!.TryAdmit(head.Value))
                {
                    waiting.RemoveFirst();
                    batch[head.Value.SampleId] = (head.Value, version, DateTimeOffset.UtcNow);
                    batchStep = head.Value.Step;
                    running.Add(head.Value.SampleId);
                }
                foreach (var f in await engine!.Advance())
                {
                    told.Remove(f.SampleId);
                    var (work, admittedUnder, began) = batch.Remove(f.SampleId, out var b) ? ((GenerationWork?)b.Work, b.Version, (DateTimeOffset?)b.Began) : (null, version, null);
                    var spans = work is null ? [new VersionSpan(admittedUnder, f.Length)] : Spans(work, admittedUnder, f.Length);
                    reports.Add(Report(f.SampleId, new GeneratedResponse(f.Response, f.LogProbs, spans.Length > 0 ? spans[0].Version : admittedUnder,
                        this.GetPrimaryKeyString(), f.Truncated, f.Response.Length == 0 ? f.Length : 0, spans, f.Turns, began)));
                }
                reports.RemoveAll(t => t.IsCompleted);
                await TellProgress();
            }
            // The last reports may bring more work (a pulling dispatch answers a finished sample with the
            // next one): this loop only ends when none came, so a later Submit starts a new one.
            await Task.WhenAll(reports);
            reports.Clear();
            if (waiting.Count == 0 && engine!.Count == 0) return;
        }
    }

    private async Task Report(string sampleId, GeneratedResponse response)
    {
        if (limits?.Job is { } job)
        {
            Telemetry.ActorsMeter.SamplesGenerated.Add(1, Telemetry.ActorsMeter.Job(job));
            Telemetry.ActorsMeter.TokensGenerated.Add(response.Tokens, Telemetry.ActorsMeter.Job(job));
        }
        try
        {
            // The sample grain's silo may be going: its record is in the ledger, so the call succeeds on its next activation.
            await SiloLoss.Retry(() => GrainFactory.GetGrain<ISampleGrain>(sampleId).Generated(response));
        }
        catch (Exception e)
        {
            // The job's audit finds the sample no longer held here and not generated, and sends it again.
            logger.LogError(e, "reporting sample {Sample} failed", sampleId);
        }
        finally
        {
            running.Remove(sampleId);
        }
    }
}
