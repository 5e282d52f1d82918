namespace Kernels.Emulation;

/// <summary>One emulated workload: its samples' prompt and response lengths, and the cluster that runs it.</summary>
public sealed record EmulatedWorkload(
    IReadOnlyList<(int Prompt, int Response)> Samples,
    CostModel Generation,
    int GenerationWorkers,
    int WorkerCapacity,
    CostModel Scoring,
    int InferenceDevices,
    CostModel ActorTraining,
    CostModel? CriticTraining,
    int TrainingDevicesPerModel,
    Link WeightLink);

/// <summary>The stages of one iteration, in seconds, and their sum.</summary>
public sealed record IterationTimes(double Generation, double Scoring, double Training, double WeightTransfer)
{
    public double Total => Generation + Scoring + Training + WeightTransfer;
}

/// <summary>
/// The analytic time of one iteration under the barrier policy, which an emulated run must reproduce:
/// generation = the slowest worker's simulated continuous batch, with samples dealt round-robin (sample
/// k to worker k mod G, as the job dispatches); then scoring = each scoring model's forward over every
/// sequence, spread evenly over the inference devices (the reference, then the critic for PPO); then
/// training = forward and backward over every sequence, spread over each model's data-parallel devices,
/// actor and critic side by side; then the new actor weights cross the weight link once.
/// </summary>
public static class BarrierIteration
{
    public static IterationTimes Predict(EmulatedWorkload w)
    {
        if (w.Samples.Count == 0) throw new ArgumentException("a workload needs samples");
        if (w.GenerationWorkers < 1 || w.InferenceDevices < 1 || w.TrainingDevicesPerModel < 1) throw new ArgumentException("every role needs at least one device");
        var generation = Enumerable.Range(0, w.GenerationWorkers).Max(g => EmulatedBatch.Simulate(w.Generation, w.WorkerCapacity,
            w.Samples.Select((s, k) => (s, k)).Where(p => p.k % w.GenerationWorkers == g)
                .Select(p => new EmulatedSequence($"s{p.k}", p.s.Prompt, p.s.Response)).ToArray()).Seconds);
        var sequences = w.Samples.Select(s => s.Prompt + s.Response).ToArray();
        var scoring = Spread(sequences, w.InferenceDevices, w.Scoring.ForwardSeconds);
        if (w.CriticTraining is { } critic)
        {
            // The critic's values: its own shape, on the inference devices.
            var criticScoring = new CostModel(w.Scoring.Device, critic.Model, w.Scoring.Assumptions, w.Scoring.TensorParallel);
            scoring += Spread(sequences, w.InferenceDevices, criticScoring.ForwardSeconds);
        }
        var training = Math.Max(Spread(sequences, w.TrainingDevicesPerModel, w.ActorTraining.TrainingSeconds),
            w.CriticTraining is null ? 0 : Spread(sequences, w.TrainingDevicesPerModel, w.CriticTraining.TrainingSeconds));
        return new IterationTimes(generation, scoring, training, w.ActorTraining.WeightTransferSeconds(w.WeightLink));
    }

    /// <summary>The slowest device's time when the sequences are dealt round-robin over <paramref name="devices"/>.</summary>
    private static double Spread(int[] sequences, int devices, Func<IReadOnlyCollection<int>, double> cost) =>
        Enumerable.Range(0, devices).Max(d => cost(sequences.Where((_, k) => k % devices == d).ToArray()));
}
