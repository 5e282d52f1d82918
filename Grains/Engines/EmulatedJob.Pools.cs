using Grains.Data;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>An emulated job's generation and training pools as one budget, and a step's seconds on each for a division of it (rl.pools).</summary>
public sealed partial class EmulatedJob
{
    /// <summary>A training replica's devices (actor, and critic beside it), in generation workers.</summary>
    public int WorkersPerReplica => spec.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1) / spec.GenerationTensorParallel;

    /// <summary>
    /// A step's generation on <paramref name="workers"/> workers in steady state, its samples dealt as pull
    /// dispatch deals them (a worker takes the next when one of its own finishes). A worker admits one
    /// weights version at a time, so each step's samples are a batch of their own; with partial rollouts
    /// every worker takes every version at once, and the k + 1 steps in flight (maxStaleness k) share its
    /// batch: their samples together, over k + 1.
    /// </summary>
    public double GenerationSeconds(IReadOnlyList<(int Prompt, int Response)> samples, int workers)
    {
        var waves = rl.Async is { PartialRollouts: true } ? rl.Staleness + 1 : 1;
        var sequences = Enumerable.Range(0, waves)
            .SelectMany(wave => samples.Select((s, k) => (new EmulatedSequence($"{wave}/{k}", s.Prompt, s.Response), 0.0)))
            .ToArray();
        return SkewPlanner.Simulate(EmulatedCosts.Of(Generator.Device), rl.MaxBatch, workers, sequences, 0, 0) / waves;
    }

    /// <summary>
    /// A step's training on <paramref name="replicas"/> replicas, as the job cuts it: each optimizer step's
    /// mini-batch in balanced shares, the slowest share's forward and backward (actor and critic side by
    /// side); with decoupled PPO, the proximal forward over the rows after the first optimizer step.
    /// </summary>
    public double TrainingSeconds(IReadOnlyList<(int Prompt, int Response)> samples, int replicas, int iteration)
    {
        var actor = EmulatedCosts.Of(Trainer(critic: false));
        var critic = rl.NeedsCritic ? EmulatedCosts.Of(Trainer(critic: true)) : null;
        int[] Sequences(IEnumerable<int> rows) => [.. rows.Select(k => samples[k].Prompt + samples[k].Response)];
        int[][] Shares(int[] rows) => [.. MiniBatchPlan.BalancedShares([.. Sequences(rows).Select(s => (long)s)], replicas).Select(share => share.Select(p => rows[p]).ToArray())];
        var steps = MiniBatchPlan.For(rl, job.Seed, iteration, [.. samples.Select(s => (long)s.Prompt + s.Response)]);
        var seconds = steps.Sum(step => Shares(step).Max(share =>
            Math.Max(actor.TrainingSeconds(Sequences(share)), critic?.TrainingSeconds(Sequences(share)) ?? 0)));
        if (rl.Async is { Decoupled: true })
        {
            int[] later = [.. Enumerable.Range(0, samples.Count).Except(steps[0])];
            if (later.Length > 0) seconds += Shares(later).Max(share => actor.ForwardSeconds(Sequences(share)));
        }
        return seconds;
    }

    /// <summary>
    /// What moving one unit between the pools costs the moved devices: a training replica's weights and
    /// optimizer state (fp32 master weights and Adam's two moments, 12 bytes a parameter, beside the 2 of
    /// the bf16 weights: 7 times the weights) cross the weight link, for the actor and any critic.
    /// </summary>
    public double MoveSeconds =>
        7 * (EmulatedCosts.Of(Trainer(critic: false)).WeightTransferSeconds(Link.Parse(spec.WeightLink))
            + (rl.NeedsCritic ? EmulatedCosts.Of(Trainer(critic: true)).WeightTransferSeconds(Link.Parse(spec.WeightLink)) : 0));

    /// <summary>The first step's samples as the length model draws them: what the division at a job's start is chosen on.</summary>
    public IReadOnlyList<(int Prompt, int Response)> FirstStepSamples => Workload(1).Samples;
}
