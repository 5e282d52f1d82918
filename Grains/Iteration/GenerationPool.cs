using Grains.Cluster;
using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Tasks;
using Microsoft.Extensions.Logging;

namespace Grains.Iteration;

/// <summary>
/// An RL job's generation workers, as its runner goes on with them: the grains any division of its pools
/// (rl.pools) or rl.maxGenerationWorkers gives, those its steps are dealt to (live), those that have been live
/// in this run and so may hold a device (used), and those waiting for a device (dropped: one that left for want
/// of a free device, or one past rl.generationWorkers). A worker that stops (a version failed to load on it)
/// leaves for good; one with no device free leaves until a device frees; the job goes on with the others.
/// </summary>
/// <param name="notice">What the job goes on without (a worker stopped): kept in its status.</param>
public sealed class GenerationPool(JobSpec job, IGrainFactory grains, ILogger logger, Action<string> notice)
{
    private readonly JobKeys keys = JobKeys.For(job);
    private readonly IGenerationWorkerGrain[] all = [.. Enumerable.Range(0, PoolTuning.Most(job).Workers).Select(w => grains.GetGrain<IGenerationWorkerGrain>(JobKeys.For(job).Worker(w)))];
    private readonly List<int> live = [.. Enumerable.Range(0, job.Rl!.GenerationWorkers)];
    private readonly SortedSet<int> used = [.. Enumerable.Range(0, job.Rl!.GenerationWorkers)];
    private readonly SortedSet<int> dropped = [.. Enumerable.Range(job.Rl!.GenerationWorkers, job.Rl.MostGenerationWorkers - job.Rl.GenerationWorkers)];
    private GenerationLimits? limits;
    private EmulatedJob? emulated;

    /// <summary>The weights version the workers are to hold (asynchronous workers load it as their samples need it).</summary>
    public WeightsRef? Weights { get; set; }

    public int Count => live.Count;

    /// <summary>The live workers, by their index in the job.</summary>
    public (int Index, IGenerationWorkerGrain Grain)[] Live => [.. live.Select(w => (w, all[w]))];

    public IGenerationWorkerGrain[] Workers => [.. live.Select(w => all[w])];

    /// <summary>The job's index of the worker whose grain key is <paramref name="worker"/>, or -1.</summary>
    public int IndexOf(string worker) => Enumerable.Range(0, all.Length).FirstOrDefault(w => keys.Worker(w) == worker, -1);

    public IGenerationWorkerGrain this[int w] => all[w];

    /// <summary>The job's limits, known once its data is read, and its emulated devices where it has them: every worker is configured with them.</summary>
    public void Use(GenerationLimits jobLimits, EmulatedJob? emulatedJob) => (limits, emulated) = (jobLimits, emulatedJob);

    /// <summary>The run begins with the first <paramref name="workers"/> of them (its pools' division).</summary>
    public void Begin(int workers)
    {
        live.Clear();
        live.AddRange(Enumerable.Range(0, workers));
        used.Clear();
        used.UnionWith(live);
    }

    /// <summary>Worker <paramref name="w"/> with the job's limits and current weights: nothing to do for one that has them.</summary>
    public Task Ready(int w) => SiloLoss.Retry(() => Place(w));

    /// <summary>Worker <paramref name="w"/>'s limits: the job's, on an emulated long-tail instance's devices for one of those.</summary>
    public GenerationLimits LimitsOf(int w) => emulated is null ? limits! : limits! with { Emulated = emulated.GeneratorFor(w) };

    /// <summary>Every worker gets a weights version; one re-activated after its silo's loss is configured first.</summary>
    public Task LoadWeights(WeightsRef version, Action<int, string> progress)
    {
        Weights = version;
        return OnEach(Ready, progress);
    }

    /// <summary>
    /// Does <paramref name="action"/> on every live worker, again while a silo's loss fails it; a worker that
    /// cannot be placed again (no device free for it) or stops leaves the job, which goes on with the others.
    /// </summary>
    public async Task OnEach(Func<int, Task> action, Action<int, string> progress)
    {
        var outcomes = await Task.WhenAll(live.Select(async w =>
        {
            try
            {
                await SiloLoss.Retry(() => action(w));
                return (w, Error: (Exception?)null);
            }
            catch (Exception e) when (RolloutScheduler.Unavailable(e))
            {
                return (w, Error: e);
            }
        }));
        foreach (var (w, error) in outcomes.Where(r => r.Error is not null)) Leave(w, error!, progress);
    }

    /// <summary>
    /// A worker leaves the job's next steps: one stopped (a version failed to load on it) for good, with a
    /// notice in the job's status; one with no device free until a device frees (<see cref="Rejoin"/>). The
    /// last one does not: its error is the job's.
    /// </summary>
    public void Leave(int w, Exception error, Action<int, string> progress)
    {
        if (!live.Contains(w)) return;
        if (live.Count == 1) throw error;
        live.Remove(w);
        var stopped = WorkerStoppedException.In(error);
        if (!stopped) dropped.Add(w);
        var why = stopped ? RolloutScheduler.Stopped(error) : $"generation worker {keys.Worker(w)} lost, no device free for it";
        if (stopped) notice(why);
        logger.LogWarning("job {Job}: {Why}; going on with {Count} workers", job.Name, why, live.Count);
        progress(Weights?.Version ?? 0, $"{why}: going on with {live.Count} workers");
    }

    /// <summary>A worker stopped while generating: steps launched from now on leave it out, unless it is the last.</summary>
    public void Stopped(int w)
    {
        if (live.Count > 1) live.Remove(w);
    }

    /// <summary>Held-out accuracy of <paramref name="version"/> on the live workers; one that stops on it leaves.</summary>
    public Task<HeldOutResult> Evaluate(WeightsRef version, TaskEncoding encoding, RlData data, ToolsSpec? tools, Action<int, string> progress) =>
        HeldOutEvaluation.Accuracy(Workers, version, encoding, data, tools, (worker, error) => Leave(Array.IndexOf(all, worker), error, progress));

    /// <summary>
    /// Workers waiting for a device (one left for want of one, or one past rl.generationWorkers) that can be
    /// placed now (a silo joined) join the job's steps from the next one launched.
    /// </summary>
    public async Task Rejoin(Action<int, string> progress)
    {
        foreach (var w in dropped.ToList())
        {
            try
            {
                await Place(w);
            }
            catch (Exception e) when (RolloutScheduler.Unavailable(e) || SiloLoss.Is(e))
            {
                continue;
            }
            dropped.Remove(w);
            Join(w);
            progress(Weights?.Version ?? 0, $"generation worker {keys.Worker(w)} placed: going on with {live.Count} workers");
        }
    }

    /// <summary>
    /// Up to <paramref name="count"/> workers neither live nor waiting for a device are placed and made ready
    /// (an elastic pool grew): stops at the first that finds no device. Returns how many joined.
    /// </summary>
    public async Task<int> Grow(int count)
    {
        var added = 0;
        foreach (var w in Enumerable.Range(0, all.Length).Where(w => !live.Contains(w) && !dropped.Contains(w)).Take(count).ToList())
        {
            try
            {
                used.Add(w);
                await Ready(w);
            }
            catch (Exception e) when (RolloutScheduler.Unavailable(e) || SiloLoss.Is(e))
            {
                await SiloLoss.Vacate(all[w]);
                break;
            }
            Join(w);
            added++;
        }
        return added;
    }

    /// <summary>The live workers past the first <paramref name="keep"/> (an elastic pool shrinks from its end).</summary>
    public int[] Past(int keep) => [.. live.Skip(keep)];

    /// <summary>Workers leave the live ones and their devices (their samples already moved off them).</summary>
    public async Task Remove(int[] leaving)
    {
        foreach (var w in leaving) live.Remove(w);
        await Task.WhenAll(leaving.Select(w => SiloLoss.Vacate(all[w])));
    }

    /// <summary>Workers that had left come back, ready (a move that found no device for the other pool).</summary>
    public async Task Restore(int[] workers)
    {
        foreach (var w in workers)
        {
            await Ready(w);
            Join(w);
        }
    }

    /// <summary>The workers outside the live ones, which an earlier run of the job may have left holding devices.</summary>
    public IEnumerable<IDeviceGrain> Outside => Enumerable.Range(0, all.Length).Where(w => !live.Contains(w)).Select(w => (IDeviceGrain)all[w]);

    /// <summary>Every worker that may hold a device gives it back once its calls end.</summary>
    public Task Release() => Task.WhenAll(used.Select(w => SiloLoss.Vacate(all[w])));

    private async Task Place(int w)
    {
        await all[w].Configure(LimitsOf(w));
        await all[w].LoadWeights(Weights!);
    }

    private void Join(int w)
    {
        live.Add(w);
        live.Sort();
        used.Add(w);
    }
}
