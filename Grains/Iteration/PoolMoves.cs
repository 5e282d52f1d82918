using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Kernels.Emulation;
using Microsoft.Extensions.Logging;

namespace Grains.Iteration;

/// <summary>
/// Moves devices between an asynchronous job's pools (rl.pools) as <see cref="PoolTuning"/> plans: one
/// data-parallel unit at a time, between steps, from training replicas to generation workers or back.
/// </summary>
public sealed class PoolMoves(JobSpec job, IGrainFactory grains, GenerationPool workers, DataParallelBackend trainers, RolloutScheduler scheduler, ILogger logger)
{
    private readonly JobKeys keys = JobKeys.For(job);

    public static string Describe(PoolSplitPlanner.Division d) =>
        $"{d.GenerationWorkers} generation workers, {d.TrainingReplicas} training replicas" + (d.Seconds > 0 ? $" (a step simulated: {d.Seconds:F1} s)" : "");

    /// <summary>
    /// Moves one unit from division <paramref name="before"/> towards <paramref name="next"/> (the next step
    /// is launched after): a training replica leaves and its devices take generation workers, or the last worker
    /// leaves (its samples of the running steps go to the others with their tokens so far) and its devices take
    /// a training replica. The devices are waited for until the directory has them back. Where no device is
    /// free for the new role after all (another job took it), the leaving grain comes back and the division stays.
    /// </summary>
    public async Task<PoolSplitPlanner.Division> Move(PoolSplitPlanner.Division before, PoolSplitPlanner.Division next, Action<int, string> progress)
    {
        if (next.TrainingReplicas < trainers.Active)
        {
            await DevicesBack(await trainers.Shrink());
            if (await workers.Grow(next.GenerationWorkers - workers.Count) == 0 && !await trainers.Grow())
            {
                throw new InvalidOperationException("a training replica left for generation workers, and neither could be placed again");
            }
        }
        else
        {
            var leaving = workers.Past(next.GenerationWorkers);
            var moved = 0;
            foreach (var w in leaving) moved += await scheduler.Retire(w);
            await workers.Remove(leaving);
            await DevicesBack([.. leaving.Select(keys.Worker)]);
            if (!await trainers.Grow()) await workers.Restore(leaving);
            else if (moved > 0) logger.LogInformation("job {Job}: {Moved} samples moved off the workers that left the generation pool", job.Name, moved);
        }
        var now = next with { GenerationWorkers = workers.Count, TrainingReplicas = trainers.Active };
        if ((now.GenerationWorkers, now.TrainingReplicas) != (before.GenerationWorkers, before.TrainingReplicas)) progress(workers.Weights?.Version ?? 0, $"pools moved: {Describe(now)}");
        return now;
    }

    /// <summary>The live generation workers' grain keys.</summary>
    public string[] WorkerKeys() => [.. workers.Live.Select(w => keys.Worker(w.Index))];

    /// <summary>The active training replicas' grain keys (actor, and critic beside it).</summary>
    public string[] TrainerKeys() => [.. Enumerable.Range(0, trainers.Active)
        .SelectMany(r => job.Rl!.NeedsCritic ? new[] { keys.Trainer("actor", r), keys.Trainer("critic", r) } : [keys.Trainer("actor", r)])];

    /// <summary>The mean busy seconds of the devices held by the grains of <paramref name="holders"/>.</summary>
    public static double BusyPerDevice(DeviceUsage[] usage, string[] holders)
    {
        var mine = usage.Where(u => holders.Contains(u.Holder)).ToArray();
        return mine.Length == 0 ? 0 : mine.Average(u => u.BusySeconds);
    }

    /// <summary>
    /// An earlier run of the job (lost with its silo) may have moved devices between its pools: the worker and
    /// trainer grains outside the division this run begins with give back any device they hold.
    /// </summary>
    public async Task VacateOutsideDivision()
    {
        var holders = (await grains.GetGrain<IDeviceDirectoryGrain>(0).Leases()).Select(l => l.Holder).ToHashSet();
        var outside = workers.Outside.Concat(trainers.Inactive).Where(g => holders.Contains(Placement.LeaseHolder.Of(g.GetGrainId())));
        await Task.WhenAll(outside.Select(SiloLoss.Vacate));
    }

    /// <summary>Waits until no device lease is held by the vacated grains of <paramref name="holders"/> (a vacated grain gives its lease back as it deactivates).</summary>
    private async Task DevicesBack(string[] holders)
    {
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);
        for (var i = 0; i < 200 && (await directory.Leases()).Any(l => holders.Any(k => l.Holder.EndsWith("/" + k, StringComparison.Ordinal))); i++) await Task.Delay(50);
    }
}
