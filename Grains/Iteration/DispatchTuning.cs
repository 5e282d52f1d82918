using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Iteration;

/// <summary>
/// Skew-aware dispatch's split step by step: none until a step is trained, then, after a trained step on
/// emulated devices, the split <see cref="SkewPlanner"/> chooses by simulating that step's samples (the
/// lengths they reached, ranked by the forecast they were launched with) on the generation workers' cost
/// model, for the steps launched once it is chosen. The simulation runs beside the job, not in its grain's
/// turn (emulated time is wall time scaled, so a job held up planning would pay for it), one at a time.
/// Real devices have no cost model to simulate with: their samples go longest forecast first, with no
/// long-tail workers. With long-tail instances of their own devices (rl.emulation.longTail) the long-tail
/// workers are those, from the first step (in batches of <see cref="FirstLongBatch"/>), and the planner
/// chooses only their batch.
/// </summary>
public sealed class DispatchTuning(RlSpec rl, EmulatedJob? emulated)
{
    /// <summary>The long-tail instances' batch before a step is trained to choose it from.</summary>
    public const int FirstLongBatch = 4;

    private volatile SkewSplit? current = rl.Dispatch != DispatchPolicy.SkewAware ? null
        : rl.Emulation?.LongTail is { } longTail ? new SkewSplit(longTail.Workers, longTail.Role == LongTailRole.Tail ? 0 : FirstLongBatch) : SkewSplit.None;
    private Task? planning;

    /// <summary>The split a step launched now runs with; null unless dispatch is skew-aware.</summary>
    public SkewSplit? Current => current;

    /// <summary>After a step is trained on <paramref name="workers"/> workers: plans the split for the next ones from its samples and their forecast.</summary>
    public void Trained(IReadOnlyList<SampleRecord> records, LengthRanking.Forecast forecast, int workers)
    {
        if (planning is { IsFaulted: true } failed) throw new InvalidOperationException("planning skew-aware dispatch failed", failed.Exception!.InnerException);
        // Long-tail instances that take the tails are dealt nothing: there is no batch to choose.
        if (current is null || emulated is null || workers < 2 || planning is { IsCompleted: false } || rl.Emulation?.LongTail is { Role: LongTailRole.Tail }) return;
        var step = records.Select(r => (new EmulatedSequence(r.Start!.Id, r.Start.PromptTokens, r.Generated!.Tokens), forecast.ByGroup.GetValueOrDefault(r.Start.Group))).ToArray();
        var cost = EmulatedCosts.Of(emulated.Generator.Device);
        var longTail = emulated.LongTail;
        planning = Task.Run(() =>
        {
            var split = longTail is null ? SkewPlanner.Choose(cost, rl.MaxBatch, workers, step) : SkewPlanner.ChooseBatch(cost, longTail, rl.MaxBatch, workers, step);
            current = new SkewSplit(split.LongWorkers, split.LongBatch);
        });
    }
}
