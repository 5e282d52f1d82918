using Grains.Interfaces.Jobs;

namespace Grains.Iteration.Policies;

/// <summary>
/// RLHFuse's long-tail migration: once a step's samples not yet generated fall to <paramref name="remaining"/>
/// of its samples, gather them on <paramref name="workers"/> workers, those already holding the most of them
/// (the fewest moves; the lowest index first among equals). Once a step: what is left is the tail.
/// Running samples move as <paramref name="move"/> says: with their KV cache, or prefilled again. With
/// <paramref name="targets"/> (long-tail instances of more devices, rl.emulation.longTail with role tail) the
/// tail is gathered on those, whatever they hold.
/// </summary>
public sealed class TailMigration(double remaining, int workers, MigrationMove move = MigrationMove.Auto, int[]? targets = null)
{
    public MigrationMove Move => move;

    private bool gathered;

    /// <summary>Asked after each generated sample (recorded in the state).</summary>
    public IReadOnlyList<RolloutAction> Generated(RolloutState state)
    {
        var left = state.Samples - state.GeneratedCount;
        if (gathered || left == 0 || left > remaining * state.Samples) return [];
        gathered = true;
        if (targets is not null) return [new GatherTail([.. targets.Where(w => w < state.Workers)])];
        var holding = Enumerable.Range(0, state.Workers).Where(w => state.Load(w) > 0).OrderByDescending(state.Load).ThenBy(w => w).ToArray();
        return holding.Length <= workers ? [] : [new GatherTail([.. holding.Take(workers)])];
    }
}
