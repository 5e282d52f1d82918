using Grains.Data;
using Grains.Interfaces.Rl;
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

    /// <summary>The steps a throughput target is sized over: k + 1 to warm up, then as many as this at the steady pace.</summary>
    private const int SizedSteps = 8;

    /// <summary>
    /// The pools sized for rl.pools.samplesPerSecond (split target): the cheapest generation workers and
    /// training replicas, up to the file's, at the workload's prices (without prices, the fewest devices),
    /// whose step at the steady pace of the job's scheduler (<see cref="PipelinedStepSeconds(int, int)"/>) trains that
    /// many samples a second. A target the most devices miss is refused (<see cref="CheckTarget"/>).
    /// </summary>
    public PoolSplitPlanner.Division SizedPools()
    {
        var (steps, seconds, replicas) = TargetSteps();
        var (pace, trained) = (new Dictionary<(int, int), double>(), new Dictionary<int, double>());
        double Step(int g, int r) => pace.TryGetValue((g, r), out var s) ? s : pace[(g, r)] = PipelinedStepSeconds(steps, g, r);
        double Training(int r) => trained.TryGetValue(r, out var t) ? t : trained[r] = MeanTrainingSeconds(steps, r);
        var (workerCost, replicaCost) = (Price(GenerationClass) * spec.GenerationTensorParallel, Price(TrainingClass) * WorkersPerReplica * spec.GenerationTensorParallel);
        return PoolSplitPlanner.Cheapest(seconds, rl.GenerationWorkers, replicas, workerCost, replicaCost, Step, Training) ?? throw Unreached(steps, seconds, replicas);
    }

    /// <summary>Refuses a throughput target the most devices miss, naming the pool that misses it (one simulation: what submit checks).</summary>
    public void CheckTarget()
    {
        var (steps, seconds, replicas) = TargetSteps();
        if (PipelinedStepSeconds(steps, rl.GenerationWorkers, replicas) > seconds) throw Unreached(steps, seconds, replicas);
    }

    private (StepSamples[] Steps, double Seconds, int MostReplicas) TargetSteps()
    {
        var target = rl.Pools?.SamplesPerSecond ?? throw new InvalidOperationException("rl.pools.samplesPerSecond: not given");
        var samples = rl.PromptsPerIteration * rl.SamplesPerPrompt;
        return (SizingSteps(), samples / target, Math.Min(rl.TrainingReplicas, samples / rl.MiniBatches));
    }

    private StepSamples[] SizingSteps() => [.. Enumerable.Range(1, rl.Staleness + 1 + SizedSteps).Select(i => new StepSamples(i, Workload(i).Samples))];

    private ArgumentException Unreached(StepSamples[] steps, double seconds, int replicas)
    {
        var (workers, samples) = (rl.GenerationWorkers, rl.PromptsPerIteration * rl.SamplesPerPrompt);
        var step = PipelinedStepSeconds(steps, workers, replicas);
        var training = MeanTrainingSeconds(steps, replicas);
        var why = training > seconds
            ? $"{replicas} training replicas alone take {training:F1} s ({(replicas < rl.TrainingReplicas ? "the most a step's mini-batch keeps busy" : "raise rl.trainingReplicas")})"
            : $"{workers} generation workers beside {replicas} training replicas take {step:F1} s (raise rl.generationWorkers, or rl.async.maxStaleness: a step's longest responses hold its workers)";
        return new ArgumentException($"rl.pools.samplesPerSecond: {rl.Pools!.SamplesPerSecond} samples a second is a step every {seconds:F1} s for {samples:N0} samples, and {why}");
    }

    /// <summary>A step's training on <paramref name="replicas"/> replicas, on average over the steps past the warm-up: a floor under the step.</summary>
    private double MeanTrainingSeconds(StepSamples[] steps, int replicas) => steps.Skip(rl.Staleness + 1).Average(s => TrainingSeconds(s.Samples, replicas, s.Iteration));

    /// <summary>A step's samples as the length model draws them, by the step's number.</summary>
    private sealed record StepSamples(int Iteration, IReadOnlyList<(int Prompt, int Response)> Samples);

    /// <summary>
    /// A step's seconds at the steady pace of the job's scheduler on <paramref name="workers"/> generation
    /// workers beside <paramref name="replicas"/> training replicas, over the steps a throughput target is sized on.
    /// </summary>
    public double PipelinedStepSeconds(int workers, int replicas) => PipelinedStepSeconds(SizingSteps(), workers, replicas);

    /// <summary>
    /// A step's seconds at the steady pace of the job's scheduler on <paramref name="workers"/> generation
    /// workers beside <paramref name="replicas"/> training replicas, were every step's lengths those of step
    /// <paramref name="iteration"/>'s <paramref name="samples"/>: what a division is planned on from one step
    /// the job has seen (at its start, the first step's lengths; as it runs, the last trained step's).
    /// </summary>
    public double PipelinedStepSeconds(IReadOnlyList<(int Prompt, int Response)> samples, int iteration, int workers, int replicas) =>
        PipelinedStepSeconds([.. Enumerable.Range(0, rl.Staleness + 1 + SizedSteps).Select(j => new StepSamples(iteration + j, samples))], workers, replicas);

    private double PipelinedStepSeconds(StepSamples[] steps, int workers, int replicas)
    {
        IReadOnlyList<EmulatedSequence>[] sequences = [.. steps.Select(step => step.Samples.Select((s, k) => new EmulatedSequence($"{step.Iteration}/{k}", s.Prompt, s.Response)).ToArray())];
        return AsyncPipelineSimulation.StepSeconds(EmulatedCosts.Of(Generator.Device), rl.MaxBatch, workers, rl.Staleness, sequences,
            j => TrainingSeconds(steps[j].Samples, replicas, steps[j].Iteration), rl.Staleness + 1);
    }

    /// <summary>A device-hour of <paramref name="deviceClass"/> at the workload's prices; 1 without prices (the fewest devices are the cheapest).</summary>
    private double Price(string deviceClass) => Prices?[deviceClass] ?? 1;

    /// <summary>The same job with its pools divided as <paramref name="division"/>: what the devices it ran on cost.</summary>
    public EmulatedJob WithPools(PoolSizes division) =>
        new(job with { Rl = rl with { GenerationWorkers = division.GenerationWorkers, TrainingReplicas = division.TrainingReplicas } });

    /// <summary>The first step's samples as the length model draws them: what the division at a job's start is chosen on.</summary>
    public IReadOnlyList<(int Prompt, int Response)> FirstStepSamples => Workload(1).Samples;
}
