namespace Grains.Iteration.Policies;

/// <summary>
/// Workers pull: each worker that is not behind (still generating an older step's samples, see
/// <see cref="RolloutState.Behind"/>) starts with up to <paramref name="slots"/> samples (dealt round-robin,
/// in index order) and takes the next undispatched sample each time one of its own is generated; a worker
/// that catches up takes its slots then. So a worker that drew short responses takes more of them, and
/// no queue waits behind a slow worker or behind an older step's long response.
/// </summary>
public sealed class PullDispatch(int slots) : IDispatchPolicy
{
    private int next;

    public IReadOnlyList<DispatchTo> Start(RolloutState state)
    {
        if (slots < 1) throw new ArgumentOutOfRangeException(nameof(slots), slots, "a worker needs at least one slot");
        var ready = Enumerable.Range(0, state.Workers).Where(w => !state.Behind(w)).ToArray();
        next = Math.Min(state.Samples, slots * ready.Length);
        return [.. Enumerable.Range(0, next).Select(k => new DispatchTo(k, ready[k % ready.Length]))];
    }

    public IReadOnlyList<DispatchTo> Generated(RolloutState state, int sample, int worker) =>
        next < state.Samples ? [new DispatchTo(next++, worker)] : [];

    public IReadOnlyList<DispatchTo> CaughtUp(RolloutState state, int worker)
    {
        var take = Math.Min(state.Samples - next, slots - state.Load(worker));
        return take <= 0 ? [] : [.. Enumerable.Range(0, take).Select(_ => new DispatchTo(next++, worker))];
    }
}
