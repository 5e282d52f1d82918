namespace Kernels.Emulation;

/// <summary>
/// Chooses StreamRL's skewness-aware split of the generation workers: L long-tail instances that run
/// the samples forecast longest in small batches of B (fast per-token decoding), and regular instances
/// that take the rest, longest forecast first. The split is the one whose simulated generation of a
/// step (the lengths a trained step reached, ranked by the forecast it was launched with, so the
/// forecast's misses count) ends soonest; the cost model's decode step, whose time grows with the
/// batch and the contexts it reads, is the model of per-token latency against batch size.
/// </summary>
public static class SkewPlanner
{
    /// <summary>L long-tail workers with batches of B (0 and 0: no long-tail instances, longest forecast first on every worker).</summary>
    public sealed record Split(int LongWorkers, int LongBatch, double Seconds);

    /// <summary>The long-tail workers and batch sizes tried: a few workers, small batches.</summary>
    public static IReadOnlyList<int> LongWorkers { get; } = [1, 2, 4, 8];

    public static IReadOnlyList<int> LongBatches { get; } = [1, 2, 4, 8];

    /// <summary>
    /// The split whose simulated generation ends soonest; the plain one (no long-tail workers) unless another
    /// beats it by more than <paramref name="margin"/> (a split moves samples away from where pull would put them).
    /// </summary>
    public static Split Choose(CostModel cost, int capacity, int workers, IReadOnlyList<(EmulatedSequence Sequence, double Forecast)> step, double margin = 0.01)
    {
        var best = new Split(0, 0, Simulate(cost, capacity, workers, step, 0, 0));
        foreach (var longWorkers in LongWorkers.Where(l => l < workers))
        {
            foreach (var batch in LongBatches.Where(b => longWorkers * b < step.Count))
            {
                var seconds = Simulate(cost, capacity, workers, step, longWorkers, batch);
                if (seconds < best.Seconds * (1 - margin) && seconds < best.Seconds) best = new Split(longWorkers, batch, seconds);
            }
        }
        return best;
    }

    /// <summary>
    /// With long-tail instances of their own devices (<paramref name="longTail"/>, the first workers), only
    /// their batch is chosen: the one whose simulated generation of the step ends soonest.
    /// </summary>
    public static Split ChooseBatch(CostModel cost, LongTailInstances longTail, int capacity, int workers, IReadOnlyList<(EmulatedSequence Sequence, double Forecast)> step) =>
        LongBatches.Where(b => b == LongBatches[0] || longTail.Workers * b < step.Count)
            .Select(b => new Split(longTail.Workers, b, Simulate(cost, capacity, workers, step, longTail.Workers, b, longTail.Generation)))
            .MinBy(s => s.Seconds)!;

    /// <summary>
    /// A step's generation under the split: samples in order of their forecast, longest first (ties by
    /// index); long-tail workers 0..L-1 hold at most <paramref name="longBatch"/> each (decoding on
    /// <paramref name="longCost"/> when they span devices of their own), regular workers their fair share of
    /// the rest (at most <paramref name="capacity"/>); each worker takes the next sample in order when one of
    /// its own finishes. Returns when the last sample finished.
    /// </summary>
    public static double Simulate(CostModel cost, int capacity, int workers, IReadOnlyList<(EmulatedSequence Sequence, double Forecast)> step, int longWorkers, int longBatch,
        CostModel? longCost = null)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker");
        if (longWorkers < 0 || longWorkers >= workers) throw new ArgumentOutOfRangeException(nameof(longWorkers), longWorkers, $"between 0 and {workers - 1}");
        if (longWorkers > 0 && longBatch < 1) throw new ArgumentOutOfRangeException(nameof(longBatch), longBatch, "at least 1");
        var order = new Queue<EmulatedSequence>(Enumerable.Range(0, step.Count).OrderByDescending(i => step[i].Forecast).ThenBy(i => i).Select(i => step[i].Sequence));
        var regularShare = (step.Count - longWorkers * longBatch + workers - longWorkers - 1) / (workers - longWorkers);
        int Slots(int w) => w < longWorkers ? longBatch : Math.Clamp(regularShare, 1, capacity);
        var batches = Enumerable.Range(0, workers).Select(w => new EmulatedBatch(w < longWorkers ? longCost ?? cost : cost, Slots(w))).ToArray();
        // The first deal: long-tail workers take the head of the order, then regular ones round-robin.
        for (var w = 0; w < longWorkers; w++)
        {
            while (batches[w].FreeSlots > 0 && order.Count > 0) batches[w].Add(order.Dequeue());
        }
        for (var dealt = true; dealt && order.Count > 0;)
        {
            dealt = false;
            for (var w = longWorkers; w < workers && order.Count > 0; w++)
            {
                if (batches[w].FreeSlots == 0 || !batches[w].Fits(order.Peek())) continue;
                batches[w].Add(order.Dequeue());
                dealt = true;
            }
        }
        var clocks = new double[workers];
        var ready = new PriorityQueue<int, double>(Enumerable.Range(0, workers).Where(w => batches[w].Count > 0).Select(w => (w, 0.0)));
        while (ready.TryDequeue(out var w, out _))
        {
            var (seconds, finished) = batches[w].Leap();
            clocks[w] += seconds;
            // Pull: a finished sample's slot takes the next in order (samples are taken at the clock of the worker that frees a slot).
            for (var f = 0; f < finished.Count && order.Count > 0 && batches[w].Fits(order.Peek()); f++) batches[w].Add(order.Dequeue());
            if (batches[w].Count > 0) ready.Enqueue(w, clocks[w]);
            else if (order.Count > 0) throw new InvalidOperationException($"sample '{order.Peek().Id}' fits on no worker");
        }
        return clocks.Max();
    }
}
