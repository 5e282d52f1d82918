using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// A policy's steady-state figures over the measured iterations of an emulated run (after its warm-up),
/// as the published systems report throughput: trained samples and tokens per emulated second over the
/// whole run (the responses trained: each iteration's mean length over the samples its ledger says it trained,
/// which under tail batching are not its workload's), the run's time against the bound (each iteration's <see cref="IdealBound"/> at the run's
/// staleness), the generation share of a step, and the analytic barrier prediction's error where there is one.
/// </summary>
public sealed record SteadyState(
    int Iterations,
    double Seconds,
    double SamplesPerSecond,
    double TokensPerSecond,
    double BoundSeconds,
    double GenerationShare,
    double? PredictionError)
{
    public double SecondsPerIteration => Seconds / Iterations;
    public double Efficiency => BoundSeconds / Seconds;

    /// <param name="measured">The iterations after the warm-up, in order.</param>
    /// <param name="workloads">Each measured iteration's analytic workload (same order).</param>
    /// <param name="predict">The analytic time of an iteration, for the policies that have one.</param>
    /// <param name="staleness">The run's rl.async.maxStaleness (0: synchronous).</param>
    public static SteadyState Of(IReadOnlyList<IterationMetrics> measured, IReadOnlyList<EmulatedWorkload> workloads, Func<EmulatedWorkload, double>? predict, int staleness = 0)
    {
        if (measured.Count == 0 || measured.Count != workloads.Count) throw new ArgumentException($"{measured.Count} measured iterations for {workloads.Count} workloads");
        var seconds = measured.Sum(m => m.IterationSeconds * m.TimeScale);
        var samples = measured.Zip(workloads, (m, w) => m.Ledger?.Trained ?? w.Samples.Count).Sum();
        var tokens = measured.Zip(workloads, (m, w) => m.Ledger is { } l ? m.LengthMean * l.Trained : w.Samples.Sum(s => (double)s.Response)).Sum();
        var bound = workloads.Sum(w => IdealBound.For(w, staleness).Seconds);
        var generation = measured.Average(m => m.GenerationSeconds / m.IterationSeconds);
        double? error = predict is null ? null : seconds / workloads.Sum(predict) - 1;
        return new SteadyState(measured.Count, seconds, samples / seconds, tokens / seconds, bound, generation, error);
    }
}
