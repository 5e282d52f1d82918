using Google.OrTools.Sat;

namespace Grains.Planning;

/// <summary>
/// Plans with Google OR-Tools' CP-SAT solver on an exact model of the problem: a start time per task, its
/// chain's order, no two tasks at once on a device, and the memory cap as a reservoir (a forward's start
/// takes its micro-batch's memory, the backward's end gives it back). Micro-batches of one model are
/// identical, so (by exchanging the remainders of two chains wherever they cross) some optimal plan runs
/// each stage's forwards, and its backwards, in micro-batch order: the model says so, which prunes the
/// search enormously. In that order a stage keeps at most L micro-batches in flight when its forward
/// k + L starts after its backward k ends: a precedence, as cheap for the solver as a chain's, where a
/// device-wide reservoir is not (<see cref="WithinStageLimits"/>).
/// </summary>
public static class ConstraintRefiner
{
    /// <summary>Better device orders than <paramref name="incumbent"/>'s, or null when none were found in time (or times are not multiples of 1/1000).</summary>
    /// <param name="deterministic">One worker and a deterministic time limit: the same inputs give the same answer.</param>
    public static int[][]? Refine(PipelineProblem problem, PipelinePlan incumbent, double lowerBound, TimeSpan limit, long seed, bool deterministic)
    {
        if (limit <= TimeSpan.Zero || Scale(problem.Tasks.Select(t => t.Duration)) is not { } scale) return null;
        var horizon = (long)Math.Round(incumbent.Makespan * scale);
        var (model, starts) = Build(problem, scale, horizon, stageLimits: null);
        if (model is null) return null;
        var makespan = model.NewIntVar((long)Math.Ceiling(lowerBound * scale - 1e-6), horizon, "makespan");
        foreach (var t in problem.Tasks) model.Add(makespan >= starts[t.Index] + (long)Math.Round(t.Duration * scale));
        model.Minimize(makespan);
        foreach (var group in incumbent.Devices.SelectMany(d => d).GroupBy(s => (s.Task.Model, s.Task.Replica, s.Task.Stage, s.Task.Kind)))
        {
            // The k-th earliest start of a group goes to its micro-batch k: still a valid plan, as every
            // stage's k-th start follows the k-th end before it.
            var times = group.Select(s => s.Start).Order().ToArray();
            var labels = group.Select(s => s.Task).OrderBy(t => t.MicroBatch).ToArray();
            for (var k = 0; k < labels.Length; k++) model.AddHint(starts[labels[k].Index], (long)Math.Round(times[k] * scale));
        }
        var solver = Solver(limit, seed, deterministic);
        var status = solver.Solve(model);
        if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible) || solver.ObjectiveValue >= horizon) return null;
        return OrdersOf(problem, solver, starts);
    }

    /// <summary>
    /// Device orders of a plan no longer than <paramref name="makespan"/> in which every stage keeps at most
    /// its limit in flight (per stage, in the order of the stages' first tasks, as <see cref="StageLimitSearch"/>),
    /// or null when none was found in time.
    /// </summary>
    public static int[][]? WithinStageLimits(PipelineProblem problem, int[] stageLimits, double makespan, TimeSpan limit, long seed, bool deterministic)
    {
        if (limit <= TimeSpan.Zero || Scale(problem.Tasks.Select(t => t.Duration)) is not { } scale) return null;
        var (model, starts) = Build(problem, scale, (long)Math.Floor(makespan * scale + 1e-6), stageLimits);
        if (model is null) return null;
        var solver = Solver(limit, seed, deterministic);
        return solver.Solve(model) is CpSolverStatus.Optimal or CpSolverStatus.Feasible ? OrdersOf(problem, solver, starts) : null;
    }

    /// <summary>The exact model with every task ending by <paramref name="horizon"/> (in units of 1/<paramref name="scale"/>), or a null model where memory is not a multiple of 1/1000.</summary>
    private static (CpModel? Model, IntVar[] Starts) Build(PipelineProblem problem, long scale, long horizon, int[]? stageLimits)
    {
        var tasks = problem.Tasks;
        var model = new CpModel();
        var durations = tasks.Select(t => (long)Math.Round(t.Duration * scale)).ToArray();
        var starts = tasks.Select(t => model.NewIntVar(0, horizon - durations[t.Index], $"start{t.Index}")).ToArray();
        var intervals = tasks.Select(t => model.NewFixedSizeIntervalVar(starts[t.Index], durations[t.Index], $"task{t.Index}")).ToArray();
        LinearExpr End(PipelineTask t) => starts[t.Index] + durations[t.Index];
        for (var t = 0; t < tasks.Count; t++)
        {
            if (problem.Predecessor[t] is var p and >= 0) model.Add(starts[t] >= End(tasks[p]));
        }
        foreach (var (stage, index) in tasks.GroupBy(t => (t.Model, t.Replica, t.Stage)).Select((g, i) => (g, i)))
        {
            var forwards = stage.Where(t => t.Kind == PassKind.F).OrderBy(t => t.MicroBatch).ToArray();
            var backwards = stage.Where(t => t.Kind == PassKind.B).OrderBy(t => t.MicroBatch).ToArray();
            for (var k = 1; k < forwards.Length; k++) model.Add(starts[forwards[k].Index] >= End(forwards[k - 1]));
            for (var k = 1; k < backwards.Length; k++) model.Add(starts[backwards[k].Index] >= End(backwards[k - 1]));
            if (stageLimits is null) continue;
            var most = Math.Max(1, stageLimits[index]);
            for (var k = most; k < forwards.Length; k++) model.Add(starts[forwards[k].Index] >= End(backwards[k - most]));
        }
        foreach (var device in tasks.GroupBy(t => t.Device)) model.AddNoOverlap(device.Select(t => intervals[t.Index]));
        if (problem.MemoryCap is { } cap)
        {
            if (Scale(tasks.Select(t => t.Memory).Append(cap)) is not { } memoryScale) return (null, starts);
            foreach (var device in tasks.GroupBy(t => t.Device))
            {
                var reservoir = model.AddReservoirConstraint(0, (long)Math.Round(cap * memoryScale));
                foreach (var t in device)
                {
                    var memory = (long)Math.Round(t.Memory * memoryScale);
                    if (t.Kind == PassKind.F) reservoir.AddEvent(starts[t.Index], memory);
                    else reservoir.AddEvent(End(t), -memory);
                }
            }
        }
        return (model, starts);
    }

    /// <summary>
    /// CP-SAT on every core, one of them diving with its fixed search (each start at its earliest, the
    /// rest propagated) and the others taking turns at its neighbourhood searches. Measured on 16/16/64/64
    /// from a 631 list schedule, 2 cores: the default portfolio on 4 workers reached 607-608 in 40 s, its
    /// full-problem searches spending 35 s on their first dives; this one proved 606, the bound, in 17-18 s
    /// (three seeds): its dive, without the disjunctive's precedence reasoning or the linear relaxation
    /// (neither prunes a makespan bound set by one device's work), reached 608 in 5 s.
    /// </summary>
    private static CpSolver Solver(TimeSpan limit, long seed, bool deterministic) => new()
    {
        StringParameters = deterministic
            ? $"num_workers:1,random_seed:{seed % int.MaxValue},max_deterministic_time:{limit.TotalSeconds}"
            : $"num_workers:{Math.Max(2, Environment.ProcessorCount)},random_seed:{seed % int.MaxValue},max_time_in_seconds:{limit.TotalSeconds}"
              + ",subsolvers:\"fixed\",use_precedences_in_disjunctive_constraint:false,linearization_level:0",
    };

    private static int[][] OrdersOf(PipelineProblem problem, CpSolver solver, IntVar[] starts) =>
        [.. problem.Tasks.GroupBy(t => t.Device).OrderBy(g => g.Key).Select(g => g.OrderBy(t => solver.Value(starts[t.Index])).Select(t => t.Index).ToArray())];

    /// <summary>The smallest of 1, 10, 100, 1000 that makes every value a whole number, or null.</summary>
    private static long? Scale(IEnumerable<double> values)
    {
        var all = values.ToArray();
        foreach (var scale in new long[] { 1, 10, 100, 1000 })
        {
            if (all.All(v => Math.Abs(v * scale - Math.Round(v * scale)) < 1e-9)) return scale;
        }
        return null;
    }
}
