namespace Grains.Iteration.Policies;

/// <summary>
/// Workers pull: each starts with up to <paramref name="slots"/> samples (dealt round-robin, in index
/// order) and takes the next undispatched sample each time one of its own is generated, so a worker
/// that drew short responses takes more of them and no queue waits behind a slow worker.
/// </summary>
public sealed class PullDispatch(int slots) : IDispatchPolicy
{
    private int next;

    public IReadOnlyList<DispatchTo> Start(RolloutState state)
    {
        if (slots < 1) throw new ArgumentOutOfRangeException(nameof(slots), slots, "a worker needs at least one slot");
        next = Math.Min(state.Samples, slots * state.Workers);
        return [.. Enumerable.Range(0, next).Select(k => new DispatchTo(k, k % state.Workers))];
    }

    public IReadOnlyList<DispatchTo> Generated(RolloutState state, int sample, int worker) =>
        next < state.Samples ? [new DispatchTo(next++, worker)] : [];
}
