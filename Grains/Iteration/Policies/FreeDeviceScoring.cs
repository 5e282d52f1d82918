namespace Grains.Iteration.Policies;

/// <summary>
/// Where a colocated job scores its samples: on devices whose worker has none of the step's samples left to
/// generate, in turn, each with at most <paramref name="most"/> samples being scored at a time (RLHFuse: the
/// devices a step's tail leaves start its next stage at once). A device still generating is not given
/// scoring: it would switch roles and back, and its samples would wait for it. Without the bound the first
/// device to finish took every sample waiting (measured: a 65B PPO step took three times as long).
/// </summary>
public sealed class FreeDeviceScoring(int most)
{
    private readonly Dictionary<int, int> scoring = [];
    private int next;

    /// <summary>The next free worker (its device) with room, from where the last one left off, among those <paramref name="usable"/> allows; null if none.</summary>
    public int? Next(RolloutState state, Func<int, bool> usable)
    {
        for (var i = 0; i < state.Workers; i++)
        {
            var w = (next + i) % state.Workers;
            if (state.Load(w) > 0 || !usable(w) || scoring.GetValueOrDefault(w) >= most) continue;
            next = w + 1;
            scoring[w] = scoring.GetValueOrDefault(w) + 1;
            return w;
        }
        return null;
    }

    /// <summary>Whether <paramref name="worker"/>'s device is scoring any sample now.</summary>
    public bool Holds(int worker) => scoring.GetValueOrDefault(worker) > 0;

    /// <summary>A sample scored on <paramref name="worker"/>'s device: it has room for another.</summary>
    public void Scored(int worker) => scoring[worker] = Math.Max(0, scoring.GetValueOrDefault(worker) - 1);
}
