using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Iteration;

/// <summary>
/// An asynchronous job's division of its devices between generation workers and training replicas
/// (rl.pools). At the start: as the job file gives it, or (split auto, emulated devices) the division
/// <see cref="PoolSplitPlanner"/> finds fastest when the job's scheduler is simulated on the cost model
/// over the first step's lengths (<see cref="EmulatedJob.PipelinedStepSeconds(IReadOnlyList{ValueTuple{int, int}}, int, int, int)"/>).
/// Real devices have no cost model: with split auto they begin as the file gives and, after each trained
/// step, move one unit towards the division the step's measurements say is fastest, until the division they
/// have is that one. With elastic pools, after each trained step the division is planned again from that
/// step (on emulated devices the scheduler simulated over the lengths it reached, beside the job, one plan
/// at a time), and the job moves one unit the way it says when the move pays for itself within
/// <see cref="Horizon"/> steps.
/// </summary>
public sealed class PoolTuning(JobSpec job, EmulatedJob? emulated)
{
    /// <summary>The steps a move must pay for itself within: lengths drift, so a gain further off is not counted on.</summary>
    public const int Horizon = 4;

    private readonly RlSpec rl = job.Rl!;
    private readonly (int Budget, int PerReplica, int MostReplicas) shape = Shape(job, emulated);
    private Task<PoolSplitPlanner.Division>? planning;
    // Real devices with split auto: whether the measurements have yet given the division the job has.
    private bool settling = job.Rl!.Pools is { Split: PoolSplit.Auto } && emulated is null;
    // Real devices: the wall seconds the last move took (none before the first: it is made on its gain alone).
    private double measuredMoveSeconds;

    /// <summary>The division the job runs with now.</summary>
    public PoolSplitPlanner.Division Current { get; private set; } = new(job.Rl!.GenerationWorkers, job.Rl.TrainingReplicas, 0);

    /// <summary>Whether the division may still change as the job runs: elastic pools, or real devices' split auto not settled.</summary>
    public bool Planning => rl.Pools is { Elastic: true } || settling;

    /// <summary>The most generation workers and training replicas any division of the job's pools gives (the grains it may use).</summary>
    public static (int Workers, int Replicas) Most(JobSpec job)
    {
        var rl = job.Rl!;
        if (rl.Pools is null) return (rl.MostGenerationWorkers, rl.TrainingReplicas);
        if (rl.Pools.Split == PoolSplit.Target) return (rl.GenerationWorkers, rl.TrainingReplicas);
        var (budget, perReplica, most) = Shape(job, rl.Emulated ? new EmulatedJob(job) : null);
        return (budget - perReplica, Math.Min(most, (budget - 1) / perReplica));
    }

    /// <summary>
    /// The pools as one budget counted in generation workers, a training replica's share of it (its devices,
    /// actor and critic, in workers: one device each on real devices), and the most replicas a step's
    /// mini-batches can give a share each.
    /// </summary>
    private static (int Budget, int PerReplica, int MostReplicas) Shape(JobSpec job, EmulatedJob? emulated)
    {
        var rl = job.Rl!;
        var perReplica = emulated?.WorkersPerReplica ?? (rl.NeedsCritic ? 2 : 1);
        return (rl.GenerationWorkers + rl.TrainingReplicas * perReplica, perReplica, rl.PromptsPerIteration * rl.SamplesPerPrompt / rl.MiniBatches);
    }

    /// <summary>The division the job begins with: with split auto on emulated devices, the fastest on the first step's lengths; with split target, the fewest devices that meet the target on them.</summary>
    public async Task<PoolSplitPlanner.Division> Begin()
    {
        if (rl.Pools is { Split: PoolSplit.Target })
        {
            Current = await Task.Run(emulated!.SizedPools);
            return Current;
        }
        if (rl.Pools is { Split: PoolSplit.Auto } && emulated is not null)
        {
            var samples = emulated.FirstStepSamples;
            Current = await Task.Run(() => PoolSplitPlanner.Choose(shape.Budget, shape.PerReplica, shape.MostReplicas,
                (g, r) => emulated.PipelinedStepSeconds(samples, 1, g, r)));
        }
        return Current;
    }

    /// <summary>
    /// After step <paramref name="iteration"/> is trained and its devices' usage taken: plans the next
    /// division. On emulated devices: the job's scheduler simulated on the cost model the devices run on, every
    /// step with this step's lengths (they drift as the job learns). On real devices, from the busy seconds a
    /// generation worker and a training replica had in it (<paramref name="generationBusy"/>,
    /// <paramref name="trainingBusy"/>: each pool's mean per device) under the division
    /// <paramref name="under"/> it ran with: a pool's step is its measured work spread evenly over its
    /// devices, T_generation(G) = busy x G_under / G, T_training(R) = busy x R_under / R, and the step the
    /// slower of the two. The move is from the division the job has now (a move may have just been made).
    /// </summary>
    public void Trained(int iteration, IReadOnlyList<SampleRecord> records, PoolSplitPlanner.Division under, double generationBusy, double trainingBusy)
    {
        if (!Planning || iteration >= job.Iterations || planning is { IsCompleted: false } || generationBusy <= 0 || trainingBusy <= 0) return;
        var (budget, perReplica, most, now, horizon) = (shape.Budget, shape.PerReplica, shape.MostReplicas, Current, Math.Min(Horizon, job.Iterations - iteration));
        if (emulated is null)
        {
            double Step(int g, int r) => Math.Max(generationBusy * under.GenerationWorkers / g, trainingBusy * under.TrainingReplicas / r);
            // Settling: towards the fastest division whatever a move costs (the job file's division was not chosen on anything).
            var next = settling
                ? PoolSplitPlanner.Next(budget, perReplica, most, now.TrainingReplicas, Step, moveSeconds: 0, horizon: 1)
                : PoolSplitPlanner.Next(budget, perReplica, most, now.TrainingReplicas, Step, measuredMoveSeconds, horizon);
            settling &= next.TrainingReplicas != now.TrainingReplicas;
            planning = Task.FromResult(next);
            return;
        }
        var samples = records.Select(r => (r.Start!.PromptTokens, r.Generated!.Tokens)).ToArray();
        planning = Task.Run(() => PoolSplitPlanner.Next(budget, perReplica, most, now.TrainingReplicas,
            (g, r) => emulated.PipelinedStepSeconds(samples, iteration, g, r), emulated.MoveSeconds, horizon));
    }

    /// <summary>The division to move to now, if a plan finished and differs from the current one; the job carries the move out and then calls <see cref="Moved"/>.</summary>
    public PoolSplitPlanner.Division? Due()
    {
        if (planning is not { IsCompleted: true } done) return null;
        planning = null;
        if (done.IsFaulted) throw new InvalidOperationException("planning the pools' division failed", done.Exception!.InnerException);
        if (done.Result.TrainingReplicas != Current.TrainingReplicas) return done.Result;
        // No move: the current division, with the seconds planned over the last step.
        Current = done.Result;
        return null;
    }

    /// <summary>The job moved to <paramref name="division"/>, which took <paramref name="seconds"/> of wall time (what the next move on real devices is expected to cost).</summary>
    public void Moved(PoolSplitPlanner.Division division, double seconds)
    {
        Current = division;
        measuredMoveSeconds = seconds;
    }
}
