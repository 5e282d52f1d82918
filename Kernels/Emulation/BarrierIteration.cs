namespace Kernels.Emulation;

/// <summary>
/// One emulated workload: its samples' prompt and response lengths, and the cluster that runs it.
/// <see cref="Scoring"/> holds one cost model per scoring model (reference, critic values, reward
/// model), all on the inference devices. <see cref="TrainingSteps"/> lists each optimizer step's
/// replica shares (sample indices per replica), as the job cuts its mini-batches. <see cref="Colocated"/>:
/// every device hosts every role in turn and pays these switches (null: each role has devices of its own).
/// </summary>
public sealed record EmulatedWorkload(
    IReadOnlyList<(int Prompt, int Response)> Samples,
    CostModel Generation,
    int GenerationWorkers,
    int WorkerCapacity,
    IReadOnlyList<CostModel> Scoring,
    int InferenceDevices,
    CostModel ActorTraining,
    CostModel? CriticTraining,
    IReadOnlyList<IReadOnlyList<int[]>> TrainingSteps,
    Link WeightLink,
    RoleSwitch? Colocated = null)
{
    public int[] Sequences(IEnumerable<int> indices) => indices.Select(k => Samples[k].Prompt + Samples[k].Response).ToArray();

    /// <summary>The first <see cref="LongTailInstances.Workers"/> generation workers as long-tail instances of their own cost model; null: every worker is of <see cref="Generation"/>.</summary>
    public LongTailInstances? LongTail { get; init; }

    /// <summary>
    /// Whether training takes the actor's forward pass over the rows after the first optimizer step too: decoupled PPO
    /// on stale samples needs their proximal log-probs under the weights before the step's first update (the first
    /// optimizer step's rows take them from its own forward). Streamed training needs none: each mini-batch is
    /// trained once, by the optimizer step whose weights are its proximal policy.
    /// </summary>
    public bool ProximalForward { get; init; }

    /// <summary>The generation workers' devices: regular workers of <see cref="Generation"/>'s degree, long-tail ones of theirs.</summary>
    public int GenerationDevices => LongTail is { } l
        ? (GenerationWorkers - l.Workers) * Generation.TensorParallel + l.Workers * l.Generation.TensorParallel
        : GenerationWorkers * Generation.TensorParallel;

    /// <summary>Every device the workload occupies (an instance of tensor-parallel degree t counts t).</summary>
    public int Devices => Colocated?.Devices ?? GenerationDevices + InferenceDevices * Scoring[0].TensorParallel
        + TrainingSteps[0].Count * (ActorTraining.TensorParallel + (CriticTraining?.TensorParallel ?? 0));
}

/// <summary><paramref name="Workers"/> generation workers that decode on <paramref name="Generation"/> (more devices each than a regular worker).</summary>
public sealed record LongTailInstances(CostModel Generation, int Workers);

/// <summary>The stages of one iteration, in seconds, and their sum; <see cref="Switching"/>: a colocated device's role switches.</summary>
public sealed record IterationTimes(double Generation, double Scoring, double Training, double WeightTransfer, double Switching = 0)
{
    public double Total => Generation + Scoring + Training + WeightTransfer + Switching;
}

/// <summary>
/// The analytic time of one iteration under the barrier policy, which an emulated run must reproduce:
/// generation = the slowest worker's simulated continuous batch, with samples dealt round-robin (sample
/// k to worker k mod G, as the job dispatches); then scoring = the slowest inference device's forward
/// passes (sample k on device k mod D, every scoring model in turn); then training = the sum over
/// optimizer steps of the slowest replica's forward and backward of its share, actor and critic side
/// by side; then the new actor weights cross the weight link once.
/// Colocated (every device hosts every role, verl's hybrid engine): the same generation and scoring over
/// all devices; training runs the actor's and then the critic's share on each device (they share it);
/// no weights cross a link, but every device switches roles three times (<see cref="RoleSwitch.RoundSeconds"/>).
/// </summary>
public static class BarrierIteration
{
    public static IterationTimes Predict(EmulatedWorkload w)
    {
        if (w.Samples.Count == 0) throw new ArgumentException("a workload needs samples");
        if (w.GenerationWorkers < 1 || w.InferenceDevices < 1 || w.TrainingSteps.Any(s => s.Count < 1)) throw new ArgumentException("every role needs at least one device");
        var generation = Enumerable.Range(0, w.GenerationWorkers).Max(g => EmulatedBatch.Simulate(w.Generation, w.WorkerCapacity,
            w.Samples.Select((s, k) => (s, k)).Where(p => p.k % w.GenerationWorkers == g)
                .Select(p => new EmulatedSequence($"s{p.k}", p.s.Prompt, p.s.Response)).ToArray()).Seconds);
        var scoring = Enumerable.Range(0, w.InferenceDevices).Max(d =>
        {
            var mine = w.Sequences(Enumerable.Range(0, w.Samples.Count).Where(k => k % w.InferenceDevices == d));
            return mine.Length == 0 ? 0 : w.Scoring.Sum(model => model.ForwardSeconds(mine));
        });
        var training = w.TrainingSteps.Sum(step => step.Max(share =>
        {
            var sequences = w.Sequences(share);
            var (actor, critic) = (w.ActorTraining.TrainingSeconds(sequences), w.CriticTraining?.TrainingSeconds(sequences) ?? 0);
            return w.Colocated is null ? Math.Max(actor, critic) : actor + critic;
        }));
        return w.Colocated is { } switches
            ? new IterationTimes(generation, scoring, training, 0, switches.RoundSeconds)
            : new IterationTimes(generation, scoring, training, w.Generation.WeightTransferSeconds(w.WeightLink));
    }
}
