using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Iteration;

/// <summary>
/// An asynchronous job's division of its devices between generation workers and training replicas
/// (rl.pools). At the start: as the job file gives it, or (split auto) the division
/// <see cref="PoolSplitPlanner"/> finds fastest over the first step's lengths on the cost model. With
/// elastic pools, after each trained step the division is simulated again over the lengths that step
/// reached (beside the job, not in its grain's turn, one at a time), and the job moves one unit the way
/// it says, when the move pays for itself within <see cref="Horizon"/> steps.
/// </summary>
public sealed class PoolTuning(JobSpec job, EmulatedJob? emulated)
{
    /// <summary>The steps a move must pay for itself within: lengths drift, so a gain further off is not counted on.</summary>
    public const int Horizon = 4;

    private readonly RlSpec rl = job.Rl!;
    private Task<PoolSplitPlanner.Division>? planning;

    /// <summary>The division the job runs with now.</summary>
    public PoolSplitPlanner.Division Current { get; private set; } = new(job.Rl!.GenerationWorkers, job.Rl.TrainingReplicas, 0, 0);

    /// <summary>Whether the division changes as the job runs.</summary>
    public bool Elastic => rl.Pools is { Elastic: true } && emulated is not null;

    /// <summary>The most generation workers and training replicas any division of the job's pools gives (the grains it may use).</summary>
    public static (int Workers, int Replicas) Most(JobSpec job)
    {
        var rl = job.Rl!;
        if (rl.Pools is null || !rl.Emulated) return (rl.GenerationWorkers, rl.TrainingReplicas);
        var emulated = new EmulatedJob(job);
        return (emulated.PoolBudget - emulated.WorkersPerReplica, Math.Min(emulated.MostReplicas, (emulated.PoolBudget - 1) / emulated.WorkersPerReplica));
    }

    /// <summary>The division the job begins with: with split auto, the fastest on the first step's lengths.</summary>
    public async Task<PoolSplitPlanner.Division> Begin()
    {
        if (rl.Pools is { Split: PoolSplit.Auto } && emulated is not null)
        {
            var samples = emulated.FirstStepSamples;
            Current = await Task.Run(() => PoolSplitPlanner.Choose(emulated.PoolBudget, emulated.WorkersPerReplica, emulated.MostReplicas,
                g => emulated.GenerationSeconds(samples, g), r => emulated.TrainingSeconds(samples, r, 1)));
        }
        return Current;
    }

    /// <summary>
    /// After step <paramref name="iteration"/> is trained and its devices' usage taken: with elastic pools,
    /// plans the next division from that step's lengths and the busy seconds a generation worker and a
    /// training replica had in it (<paramref name="generationBusy"/>, <paramref name="trainingBusy"/>: each
    /// pool's mean per device) under the division <paramref name="under"/> it ran with. The simulation gives
    /// how each pool's seconds change with its size; the measurements give their level (what the cost model
    /// leaves out: weights loaded, stragglers, the job's own overheads), so the pool that measures busier is
    /// the one a move relieves. The move is from the division the job has now (a move may have just been made).
    /// </summary>
    public void Trained(int iteration, IReadOnlyList<SampleRecord> records, PoolSplitPlanner.Division under, double generationBusy, double trainingBusy)
    {
        if (!Elastic || iteration >= job.Iterations || planning is { IsCompleted: false } || generationBusy <= 0 || trainingBusy <= 0) return;
        var samples = records.Select(r => (r.Start!.PromptTokens, r.Generated!.Tokens)).ToArray();
        var (budget, perReplica, most, now, horizon) = (emulated!.PoolBudget, emulated.WorkersPerReplica, emulated.MostReplicas, Current,
            Math.Min(Horizon, job.Iterations - iteration));
        planning = Task.Run(() =>
        {
            var (simulatedGeneration, simulatedTraining) = (emulated.GenerationSeconds(samples, under.GenerationWorkers), emulated.TrainingSeconds(samples, under.TrainingReplicas, iteration));
            return PoolSplitPlanner.Next(budget, perReplica, most, now.TrainingReplicas,
                g => generationBusy * emulated.GenerationSeconds(samples, g) / simulatedGeneration,
                r => trainingBusy * emulated.TrainingSeconds(samples, r, iteration) / simulatedTraining, emulated.MoveSeconds, horizon);
        });
    }

    /// <summary>The division to move to now, if a plan finished and differs from the current one; the job carries the move out and then calls <see cref="Moved"/>.</summary>
    public PoolSplitPlanner.Division? Due()
    {
        if (planning is not { IsCompleted: true } done) return null;
        planning = null;
        if (done.IsFaulted) throw new InvalidOperationException("planning the pools' division failed", done.Exception!.InnerException);
        if (done.Result.TrainingReplicas != Current.TrainingReplicas) return done.Result;
        // No move: the current division, with the seconds simulated over the last step.
        Current = done.Result;
        return null;
    }

    public void Moved(PoolSplitPlanner.Division division) => Current = division;
}
