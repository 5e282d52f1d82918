using Kernels.Emulation;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Microsoft.Extensions.Logging;

namespace Grains.Rl;

/// <summary>
/// A generation worker on one device of a generation silo, real or emulated (its engine). Its loop
/// admits queued samples while the engine says they fit, advances the batch, and reports each finished
/// sample to its sample grain at once. The loop is not a grain call, so Submit, HandBack and the rest
/// are answered between its steps.
/// </summary>
[DevicePlacement(SiloRoles.Generation)]
public sealed class GenerationWorkerGrain(ICheckpointStore store, HybridDevices hybrids, ILogger<GenerationWorkerGrain> logger) : DeviceGrain, IGenerationWorkerGrain
{
    private readonly Queue<GenerationWork> waiting = new();
    // Admitted samples, until their sample grain has their response: what Holding() answers with the queue.
    private readonly HashSet<string> running = [];
    private GenerationLimits? limits;
    private IGenerationEngine? engine;
    private int version = -1;
    private Task? loop;

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
        engine = configured.Emulated is { } emulated
            ? new EmulatedGenerationEngine(emulated, configured, hybrids.For(this.GetPrimaryKeyString(), emulated.Device, DeviceRole.Generation))
            : await TensorGenerationEngine.Create(store, configured, $"generation {this.GetPrimaryKeyString()}");
    }

    public async Task LoadWeights(WeightsRef weights)
    {
        if (engine is null) throw new StateLostException($"{this.GetPrimaryKeyString()} is not configured");
        if (weights.Version == version) return;
        if (InFlight > 0) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} cannot change weights while {InFlight} samples are in it");
        await engine.LoadWeights(weights);
        version = weights.Version;
    }

    public Task Submit(GenerationWork[] work)
    {
        if (version < 0) throw new StateLostException($"{this.GetPrimaryKeyString()} has no weights yet");
        foreach (var w in work)
        {
            if (w.PromptTokens + w.MaxNewTokens >= limits!.MaxSequenceLength)
            {
                throw new ArgumentException($"sample {w.SampleId}: prompt of {w.PromptTokens} tokens + {w.MaxNewTokens} new tokens exceeds the worker's sequence length {limits.MaxSequenceLength}");
            }
            if (engine!.Holds(w.SampleId) || waiting.Any(q => q.SampleId == w.SampleId)) continue;
            waiting.Enqueue(w);
        }
        loop = loop is { IsCompleted: false } ? loop : RunLoop();
        return Task.CompletedTask;
    }

    public async Task<GenerationWork[]> HandBack()
    {
        var handed = waiting.ToList();
        waiting.Clear();
        if (engine is not null) handed.AddRange(await engine.EvictAll());
        running.ExceptWith(handed.Select(w => w.SampleId));
        return [.. handed];
    }

    public Task<int[][]> Greedy(int[][] prompts, int maxNewTokens)
    {
        if (version < 0) throw new StateLostException($"{this.GetPrimaryKeyString()} has no weights yet");
        return engine!.Greedy(prompts, maxNewTokens);
    }

    public Task<int> Pending() => Task.FromResult(InFlight);

    public Task<string[]> Holding() => Task.FromResult<string[]>([.. waiting.Select(w => w.SampleId), .. running]);

    public Task<DeviceUsage> TakeUsage()
    {
        var (busy, intervals) = engine?.TakeUsage() ?? (0, null);
        return Task.FromResult(new DeviceUsage(this.GetPrimaryKeyString(), Lease.Silo, Lease.Device, busy, intervals));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (engine is not null) await engine.DisposeAsync();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private async Task RunLoop()
    {
        var reports = new List<Task>();
        while (true)
        {
            while (waiting.Count > 0 || engine!.Count > 0)
            {
                while (waiting.Count > 0 && engine!.TryAdmit(waiting.Peek())) running.Add(waiting.Dequeue().SampleId);
                var workerVersion = version;
                foreach (var f in await engine!.Advance())
                {
                    reports.Add(Report(f.SampleId, new GeneratedResponse(f.Response, f.LogProbs, workerVersion, this.GetPrimaryKeyString(), f.Truncated,
                        f.Response.Length == 0 ? f.Length : 0)));
                }
                reports.RemoveAll(t => t.IsCompleted);
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
