namespace Grains.Iteration.Policies;

/// <summary>Where samples are generated: the first dispatch of a step, and more as workers finish samples.</summary>
public interface IDispatchPolicy
{
    IReadOnlyList<DispatchTo> Start(RolloutState state);

    /// <summary>A sample generated on <paramref name="worker"/> (recorded in the state) freed one of its slots.</summary>
    IReadOnlyList<DispatchTo> Generated(RolloutState state, int sample, int worker);

    /// <summary><paramref name="worker"/> was behind (see <see cref="RolloutState.Behind"/>) and is no longer: it can take this step's samples.</summary>
    IReadOnlyList<DispatchTo> CaughtUp(RolloutState state, int worker);
}
