namespace Grains.Iteration.Policies;

/// <summary>Sample k to worker k mod workers, all at the start of the step; each worker batches its share continuously.</summary>
public sealed class RoundRobinDispatch : IDispatchPolicy
{
    public IReadOnlyList<DispatchTo> Start(RolloutState state) =>
        [.. Enumerable.Range(0, state.Workers).SelectMany(w => Enumerable.Range(0, state.Samples).Where(k => k % state.Workers == w).Select(k => new DispatchTo(k, w)))];

    public IReadOnlyList<DispatchTo> Generated(RolloutState state, int sample, int worker) => [];

    public IReadOnlyList<DispatchTo> CaughtUp(RolloutState state, int worker) => [];
}
