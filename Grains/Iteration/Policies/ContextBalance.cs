namespace Grains.Iteration.Policies;

/// <summary>
/// Evens the context (KV cache) the generation workers hold, by moving samples being generated from the
/// heaviest workers to the lightest. A decoding step reads every key and value its batch has cached, so a
/// long response decodes slower beside other long ones than beside short ones, and a step waits for its
/// slowest response: where the long responses land by chance, the longest of a step decoded beside about
/// 90,000 other tokens of context where the workers held 48,000 on average (emulated, 7B on 80 H800, 5 steps
/// of 32k-token reasoning in flight), 24 % slower than alone. The moves are Llumnix's (OSDI '24): live
/// migration of requests between instances, to even their load and spare the slowest from interference.
/// </summary>
public static class ContextBalance
{
    /// <summary>A sample being generated: the worker holding it (its index in the job) and its context in tokens.</summary>
    public readonly record struct Held(int Worker, int Context);

    /// <summary>Sample <see cref="Sample"/> (its index in the list planned over) goes to worker <see cref="To"/>.</summary>
    public readonly record struct Move(int Sample, int To);

    /// <summary>
    /// The heaviest worker gives the lightest the sample that evens the two most (its context nearest half
    /// their difference), while that lowers the heaviest by at least <paramref name="least"/> of the mean; each
    /// sample moves at most once. Samples on a worker not in <paramref name="workers"/> stay where they are.
    /// </summary>
    /// <param name="workers">The workers that hold and take samples (the job's live generation workers).</param>
    /// <param name="least">The smallest gain worth a move, as a share of the mean context a worker holds.</param>
    public static IReadOnlyList<Move> Plan(IReadOnlyList<Held> samples, IReadOnlyList<int> workers, double least = 0.05)
    {
        if (!(least >= 0)) throw new ArgumentOutOfRangeException(nameof(least), least, "a share of the mean, 0 or more");
        if (workers.Count < 2) return [];
        var load = workers.Distinct().ToDictionary(w => w, _ => 0L);
        var on = load.Keys.ToDictionary(w => w, _ => new List<int>());
        for (var k = 0; k < samples.Count; k++)
        {
            if (samples[k].Context < 0) throw new ArgumentException($"sample {k} holds a negative context ({samples[k].Context})", nameof(samples));
            if (!load.ContainsKey(samples[k].Worker)) continue;
            load[samples[k].Worker] += samples[k].Context;
            on[samples[k].Worker].Add(k);
        }
        var threshold = least * load.Values.Sum() / load.Count;
        var moves = new List<Move>();
        while (true)
        {
            var heaviest = load.MaxBy(p => p.Value).Key;
            var lightest = load.MinBy(p => p.Value).Key;
            var gap = load[heaviest] - load[lightest];
            // The pair's larger load after moving c is max(heavy - c, light + c): least at c = gap / 2.
            var best = on[heaviest].Where(k => samples[k].Context > 0).OrderBy(k => Math.Abs(2L * samples[k].Context - gap)).ThenBy(k => k).FirstOrDefault(-1);
            if (best < 0) break;
            var c = samples[best].Context;
            var after = Math.Max(load[heaviest] - c, load[lightest] + c);
            if (load[heaviest] - after < Math.Max(threshold, 1)) break;
            (load[heaviest], load[lightest]) = (load[heaviest] - c, load[lightest] + c);
            on[heaviest].Remove(best);
            moves.Add(new Move(best, lightest));
        }
        return moves;
    }
}
