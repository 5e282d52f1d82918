using System.Diagnostics;

namespace Grains.Planning;

/// <summary>
/// Lean plans from list schedules in which every stage keeps at most its own number of micro-batches in
/// flight. A device's peak is then at most the sum of its stages' limits times their memory, so lowering
/// a limit is a direct handle on memory, where a device-wide cap (<see cref="FusedPlanner.WithinCap"/>)
/// lets whichever stage comes first take the room and starve the other (measured on 8/8/32/32: under a
/// 20.5 cap the capped list schedules end at 718-730, the bound is 702). Each stage runs its forwards and
/// its backwards in micro-batch order (as <see cref="ConstraintRefiner"/> argues, this loses nothing), so a
/// schedule is decoded from the stages' heads alone, fast enough to anneal the limits over tens of
/// thousands of schedules: first to reach a makespan, then to lower the peak while keeping it.
/// </summary>
public sealed class StageLimitSearch
{
    private static readonly GreedyRule[] Rules = [GreedyRule.LongestTail, GreedyRule.BackwardFirst, GreedyRule.ActorFirst];

    private readonly PipelineProblem problem;
    private readonly Random random;
    private readonly Stage[] stages;
    // What 1F1B holds on each stage: under a gate, a stage may always hold this many.
    private readonly int[] oneFOneB;

    public StageLimitSearch(PipelineProblem problem, Random random)
    {
        this.problem = problem;
        this.random = random;
        var groups = problem.Tasks.GroupBy(t => (t.Model, t.Replica, t.Stage)).ToArray();
        var position = groups.Select((g, i) => (g.Key, i)).ToDictionary(x => x.Key, x => x.i);
        stages = groups.Select(g =>
        {
            var forwards = g.Where(t => t.Kind == PassKind.F).OrderBy(t => t.MicroBatch).ToArray();
            var backwards = g.Where(t => t.Kind == PassKind.B).OrderBy(t => t.MicroBatch).ToArray();
            var (model, replica, stage) = g.Key;
            var last = (model == PipelineModel.Actor ? problem.Pp0 : problem.Pp1) - 1;
            return new Stage
            {
                Model = model, Device = forwards[0].Device, Index = stage,
                Forwards = [.. forwards.Select(t => t.Index)], Backwards = [.. backwards.Select(t => t.Index)],
                F = forwards[0].Duration, B = backwards[0].Duration, Memory = forwards[0].Memory,
                FromForward = stage == 0 ? -1 : position[(model, replica, stage - 1)],
                FromBackward = stage == last ? -1 : position[(model, replica, stage + 1)],
                ForwardTail = forwards[0].Duration * (last - stage + 1) + backwards[0].Duration * (last + 1),
                BackwardTail = backwards[0].Duration * (stage + 1),
            };
        }).ToArray();
        oneFOneB = OneFOneB();
    }

    /// <summary>One stage of one replica of a model: its passes in micro-batch order and where its chains come from.</summary>
    private sealed class Stage
    {
        public required PipelineModel Model { get; init; }
        public required int Device { get; init; }
        /// <summary>Which stage of its model this is.</summary>
        public required int Index { get; init; }
        public required int[] Forwards { get; init; }
        public required int[] Backwards { get; init; }
        public required double F { get; init; }
        public required double B { get; init; }
        public required double Memory { get; init; }
        /// <summary>The stage whose forward feeds this one's (-1 for the first), and whose backward feeds this one's (-1 for the last).</summary>
        public required int FromForward { get; init; }
        public required int FromBackward { get; init; }
        /// <summary>Work still to follow a pass in its micro-batch's chain, itself included: the longest-tail rule's key.</summary>
        public required double ForwardTail { get; init; }
        public required double BackwardTail { get; init; }
    }

    /// <summary>1F1B's limits (the stages from each to its model's last), per stage in the order their first tasks come in the problem.</summary>
    public int[] OneFOneB() => [.. stages.Select(s => Math.Max(1, Math.Min((s.Model == PipelineModel.Actor ? problem.Pp0 : problem.Pp1) - s.Index, s.Forwards.Length)))];

    /// <summary>
    /// A non-delay list schedule in which a stage's next forward starts only while it holds fewer than its
    /// limit (each at least 1: no deadlock, some backward can always run) and, with a <paramref name="gate"/>,
    /// only while its device stays within it or the stage holds fewer than 1F1B holds there (so neither model
    /// deadlocks, as in <see cref="FusedPlanner.WithinCap"/>). Returns the devices' orders, the makespan and
    /// the largest device's peak.
    /// </summary>
    /// <param name="priority">Added to the longest-tail rule's key, per stage's forward (2 g) and backward (2 g + 1): how the search biases ties.</param>
    public (int[][] Orders, double Makespan, double Peak) Schedule(int[] limits, GreedyRule rule, double[]? priority = null, double? gate = null)
    {
        var n = stages.Length;
        var forwardEnd = stages.Select(s => new double[s.Forwards.Length]).ToArray();
        var backwardEnd = stages.Select(s => new double[s.Backwards.Length]).ToArray();
        var nextForward = new int[n];
        var nextBackward = new int[n];
        var free = new double[problem.Devices];
        var held = new double[problem.Devices];
        var peak = new double[problem.Devices];
        var orders = Enumerable.Range(0, problem.Devices).Select(_ => new List<int>()).ToArray();
        var total = problem.Tasks.Count;
        var makespan = 0.0;
        var (best, bestBackward, bestStart) = (-1, false, double.MaxValue);
        for (var placed = 0; placed < total; placed++)
        {
            (best, bestBackward, bestStart) = (-1, false, double.MaxValue);
            for (var g = 0; g < n; g++)
            {
                var s = stages[g];
                var i = nextForward[g];
                if (i < s.Forwards.Length && i - nextBackward[g] < limits[g]
                    && (gate is not { } room || i - nextBackward[g] < oneFOneB[g] || held[s.Device] + s.Memory <= room + 1e-9)
                    && (s.FromForward < 0 || nextForward[s.FromForward] > i))
                {
                    Consider(g, false, Math.Max(free[s.Device], s.FromForward < 0 ? 0 : forwardEnd[s.FromForward][i]));
                }
                var j = nextBackward[g];
                if (j < nextForward[g] && (s.FromBackward < 0 || nextBackward[s.FromBackward] > j))
                {
                    Consider(g, true, Math.Max(free[s.Device], s.FromBackward < 0 ? forwardEnd[g][j] : backwardEnd[s.FromBackward][j]));
                }
            }
            var chosen = stages[best];
            var d = chosen.Device;
            if (bestBackward)
            {
                var j = nextBackward[best]++;
                free[d] = backwardEnd[best][j] = bestStart + chosen.B;
                orders[d].Add(chosen.Backwards[j]);
                held[d] -= chosen.Memory;
            }
            else
            {
                var i = nextForward[best]++;
                free[d] = forwardEnd[best][i] = bestStart + chosen.F;
                orders[d].Add(chosen.Forwards[i]);
                held[d] += chosen.Memory;
                peak[d] = Math.Max(peak[d], held[d]);
            }
            makespan = Math.Max(makespan, free[d]);
        }
        return (orders.Select(o => o.ToArray()).ToArray(), makespan, peak.Max());

        // The earliest start wins (a non-delay schedule); the rule, and the priorities, break ties.
        void Consider(int g, bool backward, double start)
        {
            if (start < bestStart - 1e-12 || (start <= bestStart + 1e-12 && Better(g, backward, best, bestBackward))) (best, bestBackward, bestStart) = (g, backward, start);
        }

        bool Better(int g, bool backward, int incumbent, bool incumbentBackward)
        {
            if (incumbent < 0) return true;
            var (c, i) = (stages[g], stages[incumbent]);
            if (rule == GreedyRule.BackwardFirst && backward != incumbentBackward) return backward;
            if (rule == GreedyRule.ActorFirst && c.Model != i.Model) return c.Model == PipelineModel.Actor;
            var (tc, ti) = (backward ? c.BackwardTail : c.ForwardTail, incumbentBackward ? i.BackwardTail : i.ForwardTail);
            if (priority is not null) (tc, ti) = (tc + priority[2 * g + (backward ? 1 : 0)], ti + priority[2 * incumbent + (incumbentBackward ? 1 : 0)]);
            if (Math.Abs(tc - ti) > 1e-12) return tc > ti;
            return backward && !incumbentBackward;
        }
    }

    /// <summary>
    /// The leanest plan found whose makespan is at most <paramref name="makespan"/>, or, where none is, the
    /// shortest found (the leanest of equals). Every plan is within the problem's cap, if any; null when none
    /// was found before <paramref name="until"/>.
    /// </summary>
    public (int[][] Orders, double Makespan, double Peak)? Leanest(double makespan, Stopwatch clock, TimeSpan until, long maxMoves = long.MaxValue)
    {
        // From 1F1B's limits (lean, long) and from none (short, heavy): the search meets in between.
        var starts = new[] { OneFOneB(), stages.Select(s => s.Forwards.Length).ToArray() };
        (int[][] Orders, double Makespan, double Peak)? best = null;
        // Schedules are decoded within the leanest peak found so far (the problem's cap until one is): the
        // annealing then looks only among leaner plans for one as short (measured in the planner on 8/8/32/32 at
        // 702: 25.85, where the same search without the gate ended at 26.55).
        var gate = problem.MemoryCap;
        var current = starts[0];
        var (currentCost, currentPlan) = Evaluate(current, null, makespan, gate);
        foreach (var start in starts.Skip(1))
        {
            var (cost, plan) = Evaluate(start, null, makespan, gate);
            if (cost < currentCost) (current, currentCost, currentPlan) = (start, cost, plan);
        }
        Keep(currentPlan);
        var temperature = 0.1 * Math.Max(currentPlan.Peak, 1e-9);
        long moves = 0;
        var priority = new double[2 * stages.Length];
        var step = Math.Min(problem.F0, problem.F1);
        while (moves < maxMoves && ((moves & 15) != 0 || clock.Elapsed < until))
        {
            moves++;
            var g = random.Next(stages.Length);
            var was = current[g];
            var slot = random.Next(priority.Length);
            var wasPriority = priority[slot];
            if (random.Next(2) == 0)
            {
                var limit = Math.Clamp(was + (random.Next(2) == 0 ? 1 : -1) * (1 + (random.Next(4) == 0 ? random.Next(3) : 0)), 1, stages[g].Forwards.Length);
                if (limit == was) continue;
                current[g] = limit;
            }
            else
            {
                priority[slot] += (random.NextDouble() * 2 - 1) * 4 * step;
            }
            var (cost, plan) = Evaluate(current, priority, makespan, gate);
            if (cost <= currentCost || random.NextDouble() < Math.Exp((currentCost - cost) / temperature))
            {
                (currentCost, currentPlan) = (cost, plan);
                if (Keep(plan)) (currentCost, currentPlan) = Evaluate(current, priority, makespan, gate);
            }
            else
            {
                current[g] = was;
                priority[slot] = wasPriority;
            }
            if ((moves & 63) == 0) temperature = Math.Max(temperature * 0.99, 1e-6);
        }
        return best;

        // A shorter plan, or a leaner one as short (makespans at or below the goal counting as equal), is kept;
        // once one is within the goal, the gate closes below it.
        bool Keep((int[][] Orders, double Makespan, double Peak) plan)
        {
            if (problem.MemoryCap is { } cap && plan.Peak > cap + 1e-9) return false;
            if (best is { } incumbent)
            {
                var (length, incumbentLength) = (Math.Max(plan.Makespan, makespan), Math.Max(incumbent.Makespan, makespan));
                if (length > incumbentLength + 1e-9 || (length > incumbentLength - 1e-9 && plan.Peak >= incumbent.Peak - 1e-9)) return false;
            }
            best = plan;
            if (plan.Makespan > makespan + 1e-9) return false;
            gate = plan.Peak - 1e-6;
            return true;
        }
    }

    /// <summary>The best of the rules' schedules under these limits and this gate, and its cost: the makespan over the goal weighs far above the peak.</summary>
    private (double Cost, (int[][] Orders, double Makespan, double Peak) Plan) Evaluate(int[] limits, double[]? priority, double goal, double? gate)
    {
        (double Cost, (int[][] Orders, double Makespan, double Peak) Plan) best = (double.PositiveInfinity, default);
        foreach (var rule in priority is null ? Rules : [GreedyRule.LongestTail])
        {
            var plan = Schedule(limits, rule, priority, gate);
            var over = Math.Max(0, plan.Makespan - goal) + (problem.MemoryCap is { } cap ? Math.Max(0, plan.Peak - cap) * 1e3 : 0);
            var cost = over * 1e3 + plan.Peak;
            if (cost < best.Cost) best = (cost, plan);
        }
        return best;
    }
}
