using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;
using Kernels.Emulation;

namespace Grains.Iteration;

/// <summary>
/// A job's long-tail migration step by step: the settings its file gives, or, with retuneEvery K on
/// emulated devices, the plan <see cref="TailPlanner"/> chooses every K trained steps over the lengths that
/// step's samples reached, for the steps launched after it (lengths drift as training goes on; RLHFuse
/// tunes once). A plan that frees no worker without slowing generation pauses migration until the next.
/// With long-tail instances that take tails the targets are those, and the plan is the threshold whose
/// simulated step ends soonest (<see cref="TailPlanner.ChooseForLongTail"/>); with rl.trainEarly, the plan whose step
/// is predicted soonest with the freed devices scoring and training (<see cref="TailPlanner.ChooseForEarlyTraining(EmulatedWorkload, CacheTransfer?)"/>).
/// The planner runs beside the job, not in its grain's turn (on a large workload a plan takes seconds, which
/// would hold the job grain from its status calls and reminders, as skew-aware dispatch's first planner did).
/// </summary>
public sealed class MigrationTuning(RlSpec rl, EmulatedJob? emulated)
{
    private volatile MigrationPlan? current = rl.Migration is { } m ? new MigrationPlan(m.Remaining, m.Workers) : null;
    private Task planning = Task.CompletedTask;

    /// <summary>
    /// The plan being chosen: a synchronous job waits for it before its next step, so every step runs with
    /// the plan over the step before; an asynchronous one launches at once, with the plan it has.
    /// </summary>
    public Task Planned => planning;

    /// <summary>The plan a step launched now runs with; null without migration.</summary>
    public MigrationPlan? Current => current is { Workers: > 0 } ? current : null;

    /// <summary>The policy for a step launched now.</summary>
    public TailMigration? Policy() => Current is { } plan ? new TailMigration(plan.Remaining, plan.Workers, rl.Migration!.Move, TailTargets) : null;

    /// <summary>Long-tail instances that take the tails (rl.emulation.longTail, role tail): workers 0 to L - 1, the tail's targets; null otherwise.</summary>
    private int[]? TailTargets => rl.Emulation?.LongTail is { Role: LongTailRole.Tail } longTail ? [.. Enumerable.Range(0, longTail.Workers)] : null;

    /// <summary>After step <paramref name="step"/> is trained on <paramref name="workers"/> workers: every K steps, the plan for the next ones.</summary>
    public void Trained(int step, IReadOnlyList<SampleRecord> records, int workers)
    {
        if (planning.IsFaulted) throw new InvalidOperationException("re-tuning long-tail migration failed", planning.Exception!.InnerException);
        if (rl.Migration is not { RetuneEvery: > 0 } migration || emulated is null || step % migration.RetuneEvery != 0 || workers < 2 || !planning.IsCompleted) return;
        // The generation workers' cost model, batch and link: not the whole workload a step of it draws.
        var generator = emulated.Generator;
        var sequences = records.Select(r => new EmulatedSequence(r.Start!.Id, r.Start.PromptTokens, r.Generated!.Tokens)).ToArray();
        var transfer = migration.Move == MigrationMove.Prefill ? null : new CacheTransfer(Link.Parse(generator.WeightLink), Always: migration.Move == MigrationMove.Cache);
        var cost = EmulatedCosts.Of(generator.Device);
        // Long-tail instances that take tails are the targets: only when to gather is chosen, for the soonest end.
        var longTail = TailTargets is null ? null : emulated.LongTail;
        planning = Task.Run(() =>
        {
            var plan = longTail is not null ? TailPlanner.ChooseForLongTail(cost, longTail, rl.MaxBatch, workers, sequences, transfer)
                : rl.TrainEarly ? TailPlanner.ChooseForEarlyTraining(emulated.Workload(step, [.. sequences.Select(s => s.TargetLength)]), transfer)
                : TailPlanner.Choose(cost, rl.MaxBatch, workers, sequences, transfer);
            current = new MigrationPlan(plan.Remaining, plan.Workers);
        });
    }
}
