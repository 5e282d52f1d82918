namespace Grains.Iteration.Policies;

/// <summary>
/// StreamRL's skewness-aware dispatch: the step's samples in order of their forecast length, longest
/// first; workers 0..L-1 are long-tail instances that hold at most <paramref name="longBatch"/> samples at a
/// time (small batches decode each token sooner) and take the head of the order; the other workers take
/// the rest, their fair share at a time (at most <paramref name="regularSlots"/>), round-robin. As each sample
/// is generated, its worker takes the next in order, so the longest-forecast samples start first
/// everywhere. A worker that is behind (see <see cref="RolloutState.Behind"/>) takes its slots when it catches up.
/// A <paramref name="longBatch"/> of 0 keeps the long-tail workers out of the deal (they wait for the step's tail, gathered onto them).
/// </summary>
/// <param name="order">Every sample of the step, longest forecast first.</param>
public sealed class SkewAwareDispatch(IReadOnlyList<int> order, int longWorkers, int longBatch, int regularSlots) : IDispatchPolicy
{
    private int next;

    private int Slots(int worker) => worker < longWorkers ? longBatch : regularSlots;

    public IReadOnlyList<DispatchTo> Start(RolloutState state)
    {
        if (order.Count != state.Samples || order.Distinct().Count() != state.Samples || order.Any(k => k < 0 || k >= state.Samples))
        {
            throw new ArgumentException($"the dispatch order must hold each of the step's {state.Samples} samples once");
        }
        if (regularSlots < 1 || longBatch < 0) throw new ArgumentOutOfRangeException(nameof(regularSlots), "a regular worker needs at least one slot, a long-tail one none or more");
        var ready = Enumerable.Range(0, state.Workers).Where(w => !state.Behind(w)).ToArray();
        var dealt = new List<DispatchTo>();
        foreach (var w in ready.Where(w => w < longWorkers))
        {
            for (var s = 0; s < longBatch && next < order.Count; s++) dealt.Add(new DispatchTo(order[next++], w));
        }
        var regular = ready.Where(w => w >= longWorkers).ToArray();
        for (var round = 0; round < regularSlots && next < order.Count && regular.Length > 0; round++)
        {
            foreach (var w in regular.TakeWhile(_ => next < order.Count)) dealt.Add(new DispatchTo(order[next++], w));
        }
        return dealt;
    }

    public IReadOnlyList<DispatchTo> Generated(RolloutState state, int sample, int worker) =>
        next < order.Count && state.Load(worker) < Slots(worker) ? [new DispatchTo(order[next++], worker)] : [];

    public IReadOnlyList<DispatchTo> CaughtUp(RolloutState state, int worker)
    {
        var take = Math.Min(order.Count - next, Slots(worker) - state.Load(worker));
        return take <= 0 ? [] : [.. Enumerable.Range(0, take).Select(_ => new DispatchTo(order[next++], worker))];
    }
}
