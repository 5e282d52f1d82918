namespace Kernels.Emulation;

/// <summary>
/// StreamRL's resource split: a device budget divided between generation workers and training replicas so
/// that an asynchronous job's step, whose generation and training overlap, is fastest. The budget is
/// counted in generation workers; a training replica takes <c>workersPerReplica</c> of them, so a division
/// is its replica count R, with G = budget - R x workersPerReplica workers. The callers give a step's
/// seconds for a division (a simulation of the job's scheduler, or each pool's measured pace): it is at
/// least the generation's pace on G workers, which rises as R takes workers away, and at least the
/// training's on R replicas, which falls as R grows, so along the budget line it falls and then rises.
/// The fastest is found by golden-section search on R: a handful of simulations, not one per division.
/// </summary>
public static class PoolSplitPlanner
{
    /// <summary>A division of the budget with its step's seconds as the caller's simulation gives them.</summary>
    public sealed record Division(int GenerationWorkers, int TrainingReplicas, double Seconds);

    /// <summary>
    /// The division with the fewest seconds a step. <paramref name="step"/> gives a step's seconds on G
    /// workers beside R replicas; each division is simulated at most once.
    /// </summary>
    public static Division Choose(int budget, int workersPerReplica, int maxReplicas, Func<int, int, double> step) =>
        new Divisions(budget, workersPerReplica, maxReplicas, step).Best();

    /// <summary>
    /// The cheapest generation workers and training replicas, at most <paramref name="maxWorkers"/> and
    /// <paramref name="maxReplicas"/>, whose step takes at most <paramref name="seconds"/>: a throughput
    /// target, StreamRL's way of comparing device classes (each set-up sized to one target, then costed). A
    /// worker costs <paramref name="workerCost"/> and a replica <paramref name="replicaCost"/>.
    /// <paramref name="step"/> gives a step's seconds on G workers beside R replicas (the replicas count: a
    /// step must be generated and trained within the staleness bound), <paramref name="training"/> its
    /// training alone on R, a floor under the step; both fall, or stay, as either pool grows. The fewest
    /// workers for the first replica count that can meet the target are found by bisection; each further
    /// replica count needs no more workers than the one before, so its fewest are found stepping down from
    /// those (a simulation each, and one more), and the search ends once the replicas alone cost more than
    /// the cheapest found. Null when even the most devices miss the target.
    /// </summary>
    public static Division? Cheapest(double seconds, int maxWorkers, int maxReplicas, double workerCost, double replicaCost,
        Func<int, int, double> step, Func<int, double> training)
    {
        if (!(seconds > 0)) throw new ArgumentOutOfRangeException(nameof(seconds), seconds, "a step's seconds must be positive");
        if (maxWorkers < 1 || maxReplicas < 1) throw new ArgumentOutOfRangeException(maxWorkers < 1 ? nameof(maxWorkers) : nameof(maxReplicas), "each pool needs at least one");
        if (!(workerCost > 0 && replicaCost > 0)) throw new ArgumentOutOfRangeException(workerCost > 0 ? nameof(replicaCost) : nameof(workerCost), "a device's cost must be positive");
        var (best, bestCost, most, found) = ((Division?)null, double.PositiveInfinity, maxWorkers, false);
        for (var r = 1; r <= maxReplicas && r * replicaCost < bestCost; r++)
        {
            if (training(r) > seconds) continue;
            if (!found)
            {
                if (step(most, r) > seconds) continue;
                var low = 1;
                while (low < most)
                {
                    var middle = (low + most) / 2;
                    if (step(middle, r) <= seconds) most = middle;
                    else low = middle + 1;
                }
                found = true;
            }
            else while (most > 1 && step(most - 1, r) <= seconds) most--;
            if (most * workerCost + r * replicaCost < bestCost)
            {
                (best, bestCost) = (new Division(most, r, step(most, r)), most * workerCost + r * replicaCost);
            }
        }
        return best;
    }

    /// <summary>
    /// The division to run next, from <paramref name="replicas"/> now: one replica more or fewer, towards the
    /// fastest division, when the seconds that move saves a step, over <paramref name="horizon"/> steps, exceed
    /// <paramref name="moveSeconds"/> (what the moved devices spend loading their new role's state); else the
    /// current one. One unit at a time: the simulation is of the last step, and the next may differ.
    /// </summary>
    public static Division Next(int budget, int workersPerReplica, int maxReplicas, int replicas, Func<int, int, double> step, double moveSeconds, int horizon)
    {
        var divisions = new Divisions(budget, workersPerReplica, maxReplicas, step);
        var current = divisions.At(replicas);
        var best = divisions.Best();
        if (best.TrainingReplicas == replicas) return current;
        var moved = divisions.At(replicas + Math.Sign(best.TrainingReplicas - replicas));
        return (current.Seconds - moved.Seconds) * horizon > moveSeconds ? moved : current;
    }

    /// <summary>The divisions of one budget, each simulated at most once.</summary>
    private sealed class Divisions
    {
        private readonly int budget, workersPerReplica;
        private readonly Func<int, int, double> step;
        private readonly Dictionary<int, Division> known = [];

        public Divisions(int budget, int workersPerReplica, int maxReplicas, Func<int, int, double> step)
        {
            if (workersPerReplica < 1) throw new ArgumentOutOfRangeException(nameof(workersPerReplica), workersPerReplica, "a replica takes at least one worker's devices");
            Most = Math.Min(maxReplicas, (budget - 1) / workersPerReplica);
            if (Most < 1) throw new ArgumentOutOfRangeException(nameof(budget), budget, $"a budget of {budget} workers' devices holds no worker beside a replica of {workersPerReplica}");
            (this.budget, this.workersPerReplica, this.step) = (budget, workersPerReplica, step);
        }

        /// <summary>The most replicas a division may have: every one but a worker's devices, or the most the step's samples can keep busy.</summary>
        public int Most { get; }

        public Division At(int replicas)
        {
            if (replicas < 1 || replicas > Most) throw new ArgumentOutOfRangeException(nameof(replicas), replicas, $"between 1 and {Most}");
            if (known.TryGetValue(replicas, out var division)) return division;
            var workers = budget - replicas * workersPerReplica;
            return known[replicas] = new Division(workers, replicas, step(workers, replicas));
        }

        /// <summary>
        /// Golden-section search for the fastest replica count: of two inner points the slower one's outer
        /// side is dropped (a tie keeps the fewer replicas' side), and the last few are each simulated. A
        /// flat bottom (a step held by its longest responses whatever the pools) ends anywhere on it.
        /// </summary>
        public Division Best()
        {
            const double shrink = 0.6180339887498949;
            var (low, high) = (1, Most);
            while (high - low > 3)
            {
                var left = high - (int)Math.Round((high - low) * shrink);
                var right = Math.Max(left + 1, low + (int)Math.Round((high - low) * shrink));
                if (At(left).Seconds <= At(right).Seconds) high = right - 1;
                else low = left + 1;
            }
            return Enumerable.Range(low, high - low + 1).Select(At).MinBy(d => d.Seconds)!;
        }
    }
}
