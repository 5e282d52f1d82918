using System.Diagnostics;

namespace Grains.Planning;

/// <summary>Tie-breaking among tasks that can start at the same time, in the greedy construction.</summary>
public enum GreedyRule
{
    /// <summary>The task with the most work still to follow it in its chain (critical path first).</summary>
    LongestTail,
    /// <summary>Backwards before forwards (frees memory, 1F1B-like), then the longest tail.</summary>
    BackwardFirst,
    /// <summary>The actor before the critic (the critic fills what the actor leaves); otherwise the first found (device, then readiness order).</summary>
    ActorFirst,
    /// <summary>The longest tail, blurred by random noise of up to one forward time: many different good starts.</summary>
    Randomized,
}

/// <summary>How long and how the planner searches.</summary>
public sealed record PlannerOptions(double Seconds = 10, long Seed = 1, int? Chains = null, long MaxMovesPerChain = long.MaxValue);

/// <summary>A fused plan and what it took to find it.</summary>
public sealed record PlannerResult(PipelinePlan Plan, double LowerBound, PipelinePlan Sequential, double Seconds, long Moves)
{
    public double Gap => Plan.Makespan / LowerBound - 1;
    public double SpeedUp => Sequential.Makespan / Plan.Makespan;
}

/// <summary>
/// Fuses the actor's and the critic's pipelines on the same devices: greedy list schedules, improved
/// by simulated annealing over the devices' task orders (swaps of neighbours and short moves of one
/// task) for a tenth of the time; then, if the best is above the lower bound, CP-SAT on an exact model
/// started from it (<see cref="ConstraintRefiner"/>) until half the time. At that makespan CP-SAT is then
/// asked for plans under falling memory targets (<see cref="MemoryTargetSearch"/>, until three quarters of
/// the time), and the rest lowers peak memory: <see cref="MemoryAnnealer"/> on every core, the chains starting in turn from the targets' plan and from the makespan search's plan or a leaner
/// memory-capped list schedule as short (<see cref="WithinCap"/>); a single chain first looks for a
/// leaner start among list schedules under annealed per-stage limits (<see cref="StageLimitSearch"/>, half
/// the time). With a memory cap, it first plans as without one for two fifths of the time and keeps that
/// plan where it is within the cap, or lowered to within it in a fifth more, and lowers it further with the
/// rest; otherwise, for the rest, the list schedules keep within the cap, and under it the stage-limited ones
/// look for the shortest plan first. Chains run on every core, each seeded from the options' seed; the
/// best plan wins (ties to the lowest chain), so a search bounded by moves rather than seconds (CP-SAT
/// then on one worker with a deterministic time limit, and no memory targets: their rounds end by the clock) gives
/// the same plan for the same seed.
/// </summary>
public static class FusedPlanner
{
    // CP-SAT's search for the shortest plan stops at this share of the time. Only plans above the bound go to
    // CP-SAT; since its dive proves 16/16/64/64 at 606 in 12-20 s, half the time is enough (at four fifths
    // before, its default portfolio ended it at 607-619).
    private const double RefineUntil = 0.5;

    // Memory targets until this share of the time, each given at most this share (16/16/64/64 meets one in 4-9 s).
    private const double TargetsUntil = 0.75;
    private const double ProbeShare = 0.15;

    // Under a cap, the share of the time spent first planning as without one.
    private const double UncappedShare = 0.4;

    public static PlannerResult Plan(PipelineProblem problem, PlannerOptions options)
    {
        if (problem.MemoryCap is not { } cap) return PlanWithin(problem, options);
        // The shortest plans within a cap may lie beyond plans over it: without a cap the planner finds
        // 8/8/32/32 at 702 with 18.55, where the search kept within a 20.5 cap from its first move stopped at
        // 713. So plan without the cap first, and keep that plan where it is (or can be lowered to) within the cap.
        var uncapped = PlanWithin(problem.WithoutCap(), options with { Seconds = options.Seconds * UncappedShare });
        var clock = Stopwatch.StartNew();
        var rest = TimeSpan.FromSeconds(options.Seconds * (1 - UncappedShare));
        var (kept, moves) = (OrdersOf(uncapped.Plan), 0L);
        // Over the cap, its memory pass (a fifth of its time) may not have gone far enough: a third of the rest
        // goes on lowering it, until it is within the cap (8/8/32/32 under 20.5: the plan without the cap
        // has ended at 702 with 20.50 or less in some runs, over it in others, where the capped search then ended at 722).
        if (ScheduleDecoder.PeakMemory(problem, kept) > cap + 1e-9) (kept, moves) = Lower(problem, [kept], uncapped.Plan.Makespan, clock, rest / 3, options, goal: cap);
        if (ScheduleDecoder.PeakMemory(problem, kept) <= cap + 1e-9)
        {
            // Within the cap: the rest of the time lowers its memory further at its makespan.
            var (leaner, more) = Lower(problem, [kept], uncapped.Plan.Makespan, clock, rest, options);
            return uncapped with
            {
                Plan = ScheduleDecoder.Decode(problem, leaner),
                Sequential = OnProblem(problem, uncapped.Sequential),
                Seconds = uncapped.Seconds + clock.Elapsed.TotalSeconds,
                Moves = uncapped.Moves + moves + more,
            };
        }
        var capped = PlanWithin(problem, options with { Seconds = (rest - clock.Elapsed).TotalSeconds });
        // The clock ran through the capped search too.
        return capped with { Seconds = uncapped.Seconds + clock.Elapsed.TotalSeconds, Moves = uncapped.Moves + moves + capped.Moves };
    }

    /// <summary>A plan of the same tasks decoded on <paramref name="problem"/> (its cap, so the validator checks it).</summary>
    private static PipelinePlan OnProblem(PipelineProblem problem, PipelinePlan plan) => ScheduleDecoder.Decode(problem, OrdersOf(plan));

    /// <summary>Each device's task indices in the plan's order.</summary>
    private static int[][] OrdersOf(PipelinePlan plan) => [.. plan.Devices.Select(d => d.Select(t => t.Task.Index).ToArray())];

    private static PlannerResult PlanWithin(PipelineProblem problem, PlannerOptions options)
    {
        var clock = Stopwatch.StartNew();
        var bound = MakespanLowerBound.Compute(problem);
        // Starting points: list schedules under different tie-breaking rules; each chain starts from one.
        var sequential = Baselines.Sequential1F1B(problem);
        var starts = new[] { GreedyRule.LongestTail, GreedyRule.ActorFirst, GreedyRule.BackwardFirst }
            .Select(rule => problem.MemoryCap is { } cap ? Capped(problem, cap, rule) : Greedy(problem, rule))
            .Append(OrdersOf(sequential)).ToArray();
        var deadline = TimeSpan.FromSeconds(options.Seconds);
        // Under a cap, the stage-limited list schedules keep within it by construction (their gate): for a fifth
        // of the time they look for the shortest such plan, one more start (measured on 8/8/32/32 under 20.5: 713
        // where the planner without it ended at 722).
        var searched = problem.MemoryCap is null ? TimeSpan.Zero : deadline * 0.2;
        if (problem.MemoryCap is { } limit)
        {
            // Starts within the cap first, the shortest first: with fewer chains than starts (one, for a job's plans) a chain from a
            // list schedule over the cap found no plan where sequential 1F1B was within it.
            var ends = new double[problem.Tasks.Count];
            starts = [.. starts.Concat(ShortestWithinCap(problem, bound, clock, searched, options))
                .OrderBy(o => ScheduleDecoder.PeakMemory(problem, o) > limit + 1e-9).ThenBy(o => ScheduleDecoder.Makespan(problem, o, ends))];
        }
        // One chain per deterministic start, and at least one more that starts from the best of many randomized ones.
        var chains = options.Chains ?? Math.Max(Environment.ProcessorCount, starts.Length + 1);
        var deterministic = options.MaxMovesPerChain != long.MaxValue;
        var annealed = new (int[][] Orders, double Makespan, long Moves)[chains];
        Parallel.For(0, chains, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, chain =>
        {
            var random = new Random(unchecked((int)(options.Seed * 1_000_003 + chain * 7919)));
            var start = chain < starts.Length ? starts[chain] : BestRandomizedGreedy(problem, random, tries: 200, deterministic ? null : (clock, searched + deadline * 0.1));
            var search = new Search(problem, start, random);
            // A tenth of the time: CP-SAT, started from the best of these, closes most of what is left.
            var moves = search.MinimiseMakespan(bound, clock, searched + deadline * 0.1, options.MaxMovesPerChain);
            annealed[chain] = (search.Orders, search.Makespan, moves);
        });
        var best = annealed.Select((r, i) => (r, i)).OrderBy(x => x.r.Makespan).ThenBy(x => x.i).First().r;
        if (double.IsPositiveInfinity(best.Makespan))
        {
            throw new InvalidOperationException($"no plan within the memory cap {problem.MemoryCap} was found (sequential 1F1B needs {sequential.PeakMemory.Max()})");
        }
        var orders = best.Orders;
        if (best.Makespan > bound + 1e-9)
        {
            var refined = ConstraintRefiner.Refine(problem, ScheduleDecoder.Decode(problem, orders), bound, deadline * RefineUntil - clock.Elapsed, options.Seed, deterministic);
            if (refined is not null && ScheduleDecoder.Makespan(problem, refined, new double[problem.Tasks.Count]) < best.Makespan) orders = refined;
        }

        // Then lower peak memory without lengthening the makespan, a chain per core.
        var makespan = ScheduleDecoder.Makespan(problem, orders, new double[problem.Tasks.Count]);
        // Without a cap, the first start is the unlimited list schedule, the ladder's top.
        var unlimitedPeak = ScheduleDecoder.PeakMemory(problem, problem.MemoryCap is null ? starts[0] : Greedy(problem));
        var leanest = LeanPlans(problem, sequential.PeakMemory.Max(), unlimitedPeak).Where(c => c.Makespan <= makespan + 1e-9).MinBy(c => c.Peak);
        // From the makespan search's plan, or a memory-capped list schedule as short where that is leaner
        // (16/8/64/32 at the bound with 41.16 where the makespan search's plan held 126.36).
        var lean = leanest is not null && leanest.Peak < ScheduleDecoder.PeakMemory(problem, orders) ? leanest.Orders : orders;
        // CP-SAT under falling memory targets may start it leaner still (16/16/64/64 at 606: 75.44 to 38.44), but from
        // such a plan the annealing has also ended above where it ends from the other (8/4/16/8: 15.80 against 15.75):
        // the chains take them in turn.
        var targeted = deterministic ? null : MemoryTargetSearch.Leanest(problem, makespan, ScheduleDecoder.PeakMemory(problem, lean), clock, deadline * TargetsUntil, deadline * ProbeShare, options.Seed, deterministic);
        var (chosen, moves) = Lower(problem, targeted is null ? [lean] : [targeted, lean], makespan, clock, deadline, options);
        var plan = ScheduleDecoder.Decode(problem, chosen);
        return new PlannerResult(plan, bound, sequential, clock.Elapsed.TotalSeconds, annealed.Sum(r => r.Moves) + moves);
    }

    /// <summary>
    /// Lowers the peak memory of <paramref name="starts"/> (the chains take them in turn) without making them longer
    /// than <paramref name="makespan"/>, a <see cref="MemoryAnnealer"/> chain per core until <paramref name="deadline"/>
    /// (a chain stops early once it holds at most <paramref name="goal"/>); the leanest chain's orders.
    /// </summary>
    private static (int[][] Orders, long Moves) Lower(PipelineProblem problem, int[][][] starts, double makespan, Stopwatch clock, TimeSpan deadline, PlannerOptions options, double goal = 0)
    {
        // Every chain anneals all the time, each with its own seed; where they end depends on luck, so the leanest wins. Half the
        // chains also move passes on runs of devices, half only on one device: each kind of move wins on some
        // configurations (from the same starts, six chains each: 8/8/16/16 at 366, 10 s, 16.85-17.80 with runs and
        // 20.50-22.55 without; 16/8/64/32 at 618, 20 s, 39.72 or less five times without runs, once with them). A single
        // chain (a job's small plans) first searches stage-limited list schedules for half the time and anneals
        // from the leaner start. (Every other chain did so too while the annealing did not cool, see
        // MemoryAnnealer.Lower; cooling, the chains that annealed all the time ended as lean or leaner on 11 of
        // the 12 configurations of the study.)
        var deterministic = options.MaxMovesPerChain != long.MaxValue;
        var lowered = new (int[][] Orders, double Peak, long Moves)[options.Chains ?? Environment.ProcessorCount];
        var limitedFirst = lowered.Length == 1;
        var halfway = clock.Elapsed + (deadline - clock.Elapsed) / 2;
        Parallel.For(0, lowered.Length, new ParallelOptions { MaxDegreeOfParallelism = Environment.ProcessorCount }, chain =>
        {
            var from = starts[chain % starts.Length];
            if (limitedFirst)
            {
                var limited = new StageLimitSearch(problem, new Random(unchecked((int)(options.Seed * 1_000_037 + chain))))
                    .Leanest(makespan, clock, halfway, options.MaxMovesPerChain / 128);
                if (limited is { } l && l.Makespan <= makespan + 1e-9 && l.Peak < ScheduleDecoder.PeakMemory(problem, from)) from = l.Orders;
            }
            lowered[chain] = new MemoryAnnealer(problem, new Random(unchecked((int)(options.Seed * 1_000_033 + chain * 7933))), runShare: chain % 2 == 0 ? 0.5 : 0)
                .Lower(from, makespan, clock, deadline, deterministic ? options.MaxMovesPerChain / (limitedFirst ? 8 : 4) : null, goal);
        });
        return (lowered.Select((r, i) => (r, i)).OrderBy(x => x.r.Peak).ThenBy(x => x.i).First().r.Orders, lowered.Sum(r => r.Moves));
    }

    /// <summary>The shortest plan within the cap that stage-limited list schedules reach before <paramref name="until"/>, one search per core; none if none did.</summary>
    private static int[][][] ShortestWithinCap(PipelineProblem problem, double bound, Stopwatch clock, TimeSpan until, PlannerOptions options)
    {
        var found = new (int[][] Orders, double Makespan, double Peak)?[Environment.ProcessorCount];
        Parallel.For(0, found.Length, k => found[k] = new StageLimitSearch(problem, new Random(unchecked((int)(options.Seed * 1_000_039 + k * 7937))))
            .Leanest(bound, clock, until, options.MaxMovesPerChain / 64));
        return [.. found.OfType<(int[][] Orders, double Makespan, double Peak)>().OrderBy(f => f.Makespan).ThenBy(f => f.Peak).Take(1).Select(f => f.Orders)];
    }

    /// <summary>
    /// The shortest of <paramref name="tries"/> randomized list schedules (<see cref="GreedyRule.Randomized"/>), within the cap where there is one.
    /// </summary>
    /// <param name="until">Unless searching by moves: fewer tries where the clock passes this first (one at least). Under a cap each
    /// try lowers its own cap until within the real one: 200 tries of 16/16/64/64 under 38.72 took 8-13 s of a search given 7.</param>
    private static int[][] BestRandomizedGreedy(PipelineProblem problem, Random random, int tries, (Stopwatch Clock, TimeSpan Until)? until)
    {
        var ends = new double[problem.Tasks.Count];
        return Enumerable.Range(0, tries).TakeWhile(k => k == 0 || until is not { } u || u.Clock.Elapsed < u.Until)
            .Select(_ => problem.MemoryCap is { } cap ? Capped(problem, cap, GreedyRule.Randomized, random) : Greedy(problem, GreedyRule.Randomized, random))
            .MinBy(orders => ScheduleDecoder.Makespan(problem, orders, ends) + (problem.MemoryCap is { } cap && ScheduleDecoder.PeakMemory(problem, orders) > cap + 1e-9 ? 1e9 : 0))!;
    }

    /// <summary>
    /// A list schedule within <paramref name="cap"/> where one exists: <see cref="WithinCap"/> lets each
    /// model keep 1F1B's own micro-batches in flight past the cap, so the cap it is given goes down (by the
    /// smaller micro-batch's memory) until the plan's peak is within the real one.
    /// </summary>
    private static int[][] Capped(PipelineProblem problem, double cap, GreedyRule rule, Random? random = null)
    {
        var step = Math.Max(Math.Min(problem.Mem0, problem.Mem1), 1e-3);
        var orders = WithinCap(problem, cap, rule, random);
        for (var given = cap - step; ScheduleDecoder.PeakMemory(problem, orders) > cap + 1e-9 && given > 0; given -= step) orders = WithinCap(problem, given, rule, random);
        return orders;
    }

    /// <summary>A memory-capped list schedule with its makespan and peak.</summary>
    private sealed record Candidate(int[][] Orders, double Makespan, double Peak);

    /// <summary>
    /// Memory-capped list schedules (<see cref="WithinCap"/>, each tie-breaking rule) on a ladder of caps from
    /// sequential 1F1B's peak to the unlimited list schedule's: the leaner plans, some of them as short as
    /// the best found (measured: 16/8/64/32 at the makespan bound with 41.16 where the annealed plan held 126.36).
    /// </summary>
    /// <param name="low">Sequential 1F1B's peak, the ladder's first rung.</param>
    /// <param name="unlimited">The unlimited list schedule's peak, its last (or the cap, where lower).</param>
    private static List<Candidate> LeanPlans(PipelineProblem problem, double low, double unlimited, int rungs = 60)
    {
        var ends = new double[problem.Tasks.Count];
        var high = problem.MemoryCap is { } cap ? Math.Min(unlimited, cap) : unlimited;
        // Rungs a micro-batch's memory apart (at most `rungs` of them): the peak moves in such steps.
        var step = Math.Max(Math.Min(problem.Mem0, problem.Mem1), (high - low) / rungs);
        var found = new List<Candidate>();
        for (var given = low; given <= high + 1e-9; given += step)
        {
            foreach (var rule in new[] { GreedyRule.LongestTail, GreedyRule.ActorFirst, GreedyRule.BackwardFirst })
            {
                var orders = WithinCap(problem, given, rule);
                var peak = ScheduleDecoder.PeakMemory(problem, orders);
                if (problem.MemoryCap is not { } limit || peak <= limit + 1e-9) found.Add(new Candidate(orders, ScheduleDecoder.Makespan(problem, orders, ends), peak));
            }
        }
        return found;
    }

    /// <summary>
    /// List scheduling under a memory cap: a forward starts while its stage holds fewer micro-batches than
    /// 1F1B's limit (so each model can always go on, as in 1F1B, whatever the cap), and beyond that only
    /// while its device stays within <paramref name="cap"/>.
    /// </summary>
    public static int[][] WithinCap(PipelineProblem problem, double cap, GreedyRule rule = GreedyRule.LongestTail, Random? random = null) =>
        Greedy(problem, rule, random, (t, stageHeld, deviceHeld) => stageHeld < OneFOneBLimit(problem, t) || deviceHeld + t.Memory <= cap + 1e-9);

    /// <summary>Micro-batches 1F1B keeps in flight at a task's stage: the stages from it to its model's last.</summary>
    private static int OneFOneBLimit(PipelineProblem problem, PipelineTask t) => (t.Model == PipelineModel.Actor ? problem.Pp0 : problem.Pp1) - t.Stage;

    /// <param name="mayStart">Whether a forward may start, given its stage's micro-batches in flight and its device's memory held; null: always.</param>
    public static int[][] Greedy(PipelineProblem problem, GreedyRule rule = GreedyRule.LongestTail, Random? random = null, Func<PipelineTask, int, double, bool>? mayStart = null)
    {
        var tasks = problem.Tasks;
        var tail = new double[tasks.Count];
        var successor = new int[tasks.Count];
        Array.Fill(successor, -1);
        for (var t = 0; t < tasks.Count; t++) if (problem.Predecessor[t] >= 0) successor[problem.Predecessor[t]] = t;
        // Chains are laid out in order, so walking backwards fills each tail after its successor's.
        for (var t = tasks.Count - 1; t >= 0; t--) tail[t] = tasks[t].Duration + (successor[t] >= 0 ? tail[successor[t]] : 0);
        if (rule == GreedyRule.Randomized)
        {
            var noise = random ?? throw new ArgumentNullException(nameof(random), "the randomized rule needs a random source");
            for (var t = 0; t < tasks.Count; t++) tail[t] += noise.NextDouble() * Math.Min(problem.F0, problem.F1);
        }

        var ready = Enumerable.Range(0, problem.Devices).Select(_ => new List<int>()).ToArray();
        var readyAt = new double[tasks.Count];
        for (var t = 0; t < tasks.Count; t++) if (problem.Predecessor[t] < 0) ready[tasks[t].Device].Add(t);
        var free = new double[problem.Devices];
        var orders = Enumerable.Range(0, problem.Devices).Select(_ => new List<int>()).ToArray();
        // Micro-batches in flight per (model, replica, stage): forwards started, backwards not yet.
        var inFlight = new Dictionary<(PipelineModel, int, int), int>();
        int Held(PipelineTask t) => inFlight.GetValueOrDefault((t.Model, t.Replica, t.Stage));
        var memory = new double[problem.Devices];
        for (var placed = 0; placed < tasks.Count; placed++)
        {
            var (bestTask, bestStart) = (-1, double.MaxValue);
            for (var d = 0; d < problem.Devices; d++)
            {
                foreach (var t in ready[d])
                {
                    if (mayStart is not null && tasks[t].Kind == PassKind.F && !mayStart(tasks[t], Held(tasks[t]), memory[d])) continue;
                    var start = Math.Max(free[d], readyAt[t]);
                    if (start < bestStart - 1e-12 || (Math.Abs(start - bestStart) <= 1e-12 && Better(t, bestTask)))
                    {
                        (bestTask, bestStart) = (t, start);
                    }
                }
            }
            var device = tasks[bestTask].Device;
            var key = (tasks[bestTask].Model, tasks[bestTask].Replica, tasks[bestTask].Stage);
            inFlight[key] = Held(tasks[bestTask]) + (tasks[bestTask].Kind == PassKind.F ? 1 : -1);
            memory[device] += tasks[bestTask].Kind == PassKind.F ? tasks[bestTask].Memory : -tasks[bestTask].Memory;
            ready[device].Remove(bestTask);
            orders[device].Add(bestTask);
            free[device] = bestStart + tasks[bestTask].Duration;
            if (successor[bestTask] is var next and >= 0)
            {
                readyAt[next] = free[device];
                ready[tasks[next].Device].Add(next);
            }
        }
        return orders.Select(o => o.ToArray()).ToArray();

        bool Better(int candidate, int incumbent)
        {
            if (incumbent < 0) return true;
            var (c, i) = (tasks[candidate], tasks[incumbent]);
            if (rule == GreedyRule.BackwardFirst && c.Kind != i.Kind) return c.Kind == PassKind.B;
            if (rule == GreedyRule.ActorFirst) return c.Model == PipelineModel.Actor && i.Model == PipelineModel.Critic;
            if (Math.Abs(tail[candidate] - tail[incumbent]) > 1e-12) return tail[candidate] > tail[incumbent];
            return c.Kind == PassKind.B && i.Kind == PassKind.F;
        }
    }

    private sealed class Search
    {
        // Annealing starts at 2% of the makespan; the mean task end enters the cost at 1/1000 to break ties.
        private const double T0 = 0.02, Weight = 1e-3;

        private readonly PipelineProblem problem;
        private readonly Random random;
        private readonly double[] ends;

        public Search(PipelineProblem problem, int[][] start, Random random)
        {
            this.problem = problem;
            this.random = random;
            ends = new double[problem.Tasks.Count];
            Orders = start.Select(o => (int[])o.Clone()).ToArray();
            Memory = PeakMemory(Orders);
            // A start over the memory cap is no plan yet: the search has to find one under it.
            Makespan = WithinCap(Orders) ? ScheduleDecoder.Makespan(problem, Orders, ends) : double.PositiveInfinity;
        }

        public int[][] Orders { get; private set; }
        public double Makespan { get; private set; }
        /// <summary>The largest device peak, plus a little of the others' so that any device's improvement counts.</summary>
        public double Memory { get; private set; }

        /// <summary>Annealing on makespan, with the mean task end as a small tie-breaker that rewards compaction.</summary>
        public long MinimiseMakespan(double bound, Stopwatch clock, TimeSpan until, long maxMoves)
        {
            var current = Orders.Select(o => (int[])o.Clone()).ToArray();
            var currentCost = Cost(current, out var currentMakespan);
            var temperature = T0 * currentMakespan;
            long moves = 0;
            while (moves < maxMoves && Makespan > bound + 1e-9 && ((moves & 255) != 0 || clock.Elapsed < until))
            {
                moves++;
                var undo = Perturb(current);
                if (undo is null) continue;
                var cost = Cost(current, out var makespan);
                if (cost <= currentCost || random.NextDouble() < Math.Exp((currentCost - cost) / temperature))
                {
                    currentCost = cost;
                    if (WithinCap(current) && (makespan < Makespan - 1e-9 || (Math.Abs(makespan - Makespan) <= 1e-9 && PeakMemory(current) < Memory)))
                    {
                        Makespan = makespan;
                        Orders = current.Select(o => (int[])o.Clone()).ToArray();
                        Memory = PeakMemory(Orders);
                    }
                }
                else
                {
                    undo();
                }
                if ((moves & 1023) == 0) temperature = Math.Max(temperature * 0.995, 1e-6 * currentMakespan);
            }
            return moves;
        }

        private bool WithinCap(int[][] orders) =>
            problem.MemoryCap is not { } cap || orders.All(o => ScheduleDecoder.PeakMemory(o.Select(t => problem.Tasks[t])) <= cap + 1e-9);

        private double Cost(int[][] orders, out double makespan)
        {
            makespan = ScheduleDecoder.Makespan(problem, orders, ends);
            if (double.IsPositiveInfinity(makespan)) return makespan;
            var penalty = problem.MemoryCap is { } cap ? Math.Max(0, PeakMemory(orders) - cap) * 1e6 : 0;
            return makespan + Weight * ends.Average() + penalty;
        }

        /// <summary>Moves one task a few places within its device's order; returns how to undo it, or null.</summary>
        private Action? Perturb(int[][] orders)
        {
            var order = orders[random.Next(orders.Length)];
            if (order.Length < 2) return null;
            var from = random.Next(order.Length);
            var to = Math.Clamp(from + (random.Next(2) == 0 ? 1 : -1) * (1 + (random.Next(4) == 0 ? random.Next(8) : 0)), 0, order.Length - 1);
            if (to == from) return null;
            Move(order, from, to);
            return () => Move(order, to, from);
        }

        private static void Move(int[] order, int from, int to)
        {
            var task = order[from];
            if (from < to) Array.Copy(order, from + 1, order, from, to - from);
            else Array.Copy(order, to, order, to + 1, from - to);
            order[to] = task;
        }

        private double PeakMemory(int[][] orders)
        {
            double max = 0, sum = 0;
            foreach (var order in orders)
            {
                var peak = ScheduleDecoder.PeakMemory(order.Select(t => problem.Tasks[t]));
                max = Math.Max(max, peak);
                sum += peak;
            }
            return max + 1e-3 * sum;
        }
    }
}
