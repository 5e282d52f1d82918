namespace Grains.Iteration.Policies;

/// <summary>
/// Where a colocated job scores its samples: on devices whose worker has none of the step's samples left to
/// generate, in turn (RLHFuse: the devices a step's tail leaves start its next stage at once). A device still
/// generating is not given scoring: it would switch roles and back, and its samples would wait for it.
/// </summary>
public sealed class FreeDeviceScoring
{
    private int next;

    /// <summary>The next free worker (its device), from where the last one left off, among those <paramref name="usable"/> allows; null while every one is generating.</summary>
    public int? Next(RolloutState state, Func<int, bool> usable)
    {
        for (var i = 0; i < state.Workers; i++)
        {
            var w = (next + i) % state.Workers;
            if (state.Load(w) > 0 || !usable(w)) continue;
            next = w + 1;
            return w;
        }
        return null;
    }
}
