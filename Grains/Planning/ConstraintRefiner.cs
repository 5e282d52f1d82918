using Google.OrTools.Sat;

namespace Grains.Planning;

/// <summary>
/// Improves a plan's makespan with Google OR-Tools' CP-SAT solver on an exact model of the problem:
/// a start time per task, its chain's order, no two tasks at once on a device, and the memory cap as a
/// reservoir (a forward's start takes its micro-batch's memory, the backward's end gives it back).
/// Micro-batches of one model are identical, so (by exchanging the remainders of two chains wherever
/// they cross) some optimal plan runs each stage's forwards, and its backwards, in micro-batch order:
/// the model says so, which prunes the search enormously. The incumbent plan, relabelled into that
/// order, is the solver's hint. The same model with the makespan held lowers a plan's peak activation
/// memory (<see cref="LowerMemory"/>).
/// </summary>
public static class ConstraintRefiner
{
    /// <summary>Better device orders than <paramref name="incumbent"/>'s, or null when none were found in time (or times are not multiples of 1/1000).</summary>
    /// <param name="deterministic">One worker and a deterministic time limit: the same inputs give the same answer.</param>
    public static int[][]? Refine(PipelineProblem problem, PipelinePlan incumbent, double lowerBound, TimeSpan limit, long seed, bool deterministic)
    {
        if (limit <= TimeSpan.Zero || Exact.Build(problem, incumbent, incumbent.Makespan) is not { } exact) return null;
        var (model, starts, durations, scale) = (exact.Model, exact.Starts, exact.Durations, exact.Scale);
        var horizon = (long)Math.Round(incumbent.Makespan * scale);
        if (problem.MemoryCap is { } cap)
        {
            if (ScaleOf(problem.Tasks.Select(t => t.Memory).Append(cap)) is not { } memoryScale) return null;
            foreach (var device in problem.Tasks.GroupBy(t => t.Device))
            {
                var reservoir = model.AddReservoirConstraint(0, (long)Math.Round(cap * memoryScale));
                foreach (var t in device)
                {
                    var memory = (long)Math.Round(t.Memory * memoryScale);
                    if (t.Kind == PassKind.F) reservoir.AddEvent(starts[t.Index], memory);
                    else reservoir.AddEvent(starts[t.Index] + durations[t.Index], -memory);
                }
            }
        }
        var makespan = model.NewIntVar((long)Math.Ceiling(lowerBound * scale - 1e-6), horizon, "makespan");
        foreach (var t in problem.Tasks) model.Add(makespan >= starts[t.Index] + durations[t.Index]);
        model.Minimize(makespan);
        return exact.Solve(limit, seed, deterministic, value => value < horizon);
    }

    /// <summary>
    /// Device orders with a lower peak activation memory than <paramref name="incumbent"/>'s (the largest
    /// device's peak first, then the sum of all devices' peaks) and a makespan no longer than its, or null
    /// when none were found in time. A micro-batch holds its memory on a device from its forward's start to
    /// its backward's end there: a cumulative constraint per device whose capacity is that device's peak, a
    /// variable the solver minimises.
    /// </summary>
    public static int[][]? LowerMemory(PipelineProblem problem, PipelinePlan incumbent, TimeSpan limit, long seed, bool deterministic)
    {
        if (limit <= TimeSpan.Zero || Exact.Build(problem, incumbent, incumbent.Makespan) is not { } exact) return null;
        if (ScaleOf(problem.Tasks.Select(t => t.Memory)) is not { } memoryScale) return null;
        var (model, starts, durations) = (exact.Model, exact.Starts, exact.Durations);
        var tasks = problem.Tasks;
        var total = (long)Math.Round(tasks.Where(t => t.Kind == PassKind.F).Sum(t => t.Memory) * memoryScale);
        var peak = model.NewIntVar(0, total, "peak");
        var peaks = new List<IntVar>();
        foreach (var device in tasks.GroupBy(t => t.Device))
        {
            var devicePeak = model.NewIntVar(0, total, $"peak{device.Key}");
            var held = model.AddCumulative(devicePeak);
            foreach (var forward in device.Where(t => t.Kind == PassKind.F))
            {
                // Its backward on this device: the same chain's pass of the same stage, later in the chain.
                var backward = device.Single(t => t.Kind == PassKind.B && t.Model == forward.Model && t.Replica == forward.Replica && t.MicroBatch == forward.MicroBatch);
                var end = starts[backward.Index] + durations[backward.Index];
                var span = model.NewIntervalVar(starts[forward.Index], model.NewIntVar(0, exact.Horizon, $"held{forward.Index}"), end, $"holds{forward.Index}");
                held.AddDemand(span, (long)Math.Round(forward.Memory * memoryScale));
            }
            model.Add(peak >= devicePeak);
            peaks.Add(devicePeak);
        }
        var incumbentPeaks = incumbent.PeakMemory.Select(m => (long)Math.Round(m * memoryScale)).ToArray();
        // The largest peak outweighs any sum of the others: minimise it first, then the rest.
        model.Minimize(peak * (incumbentPeaks.Sum() + 1) + LinearExpr.Sum(peaks));
        var current = incumbentPeaks.Max() * (incumbentPeaks.Sum() + 1) + incumbentPeaks.Sum();
        return exact.Solve(limit, seed, deterministic, value => value < current);
    }

    /// <summary>
    /// A search bounded by moves has no deadline of its own (`actors schedule --moves`): each CP-SAT phase then
    /// stops after this much deterministic time (about as many seconds on one core).
    /// </summary>
    private const double MaxDeterministicSeconds = 60;

    /// <summary>The model both searches share: start times, chains, micro-batch order within a stage, one task at a time per device, the incumbent as a hint.</summary>
    private sealed record Exact(CpModel Model, IntVar[] Starts, long[] Durations, long Scale, long Horizon, PipelineProblem Problem)
    {
        public static Exact? Build(PipelineProblem problem, PipelinePlan incumbent, double horizonTime)
        {
            if (ScaleOf(problem.Tasks.Select(t => t.Duration)) is not { } scale) return null;
            var tasks = problem.Tasks;
            var model = new CpModel();
            var horizon = (long)Math.Round(horizonTime * scale);
            var durations = tasks.Select(t => (long)Math.Round(t.Duration * scale)).ToArray();
            var starts = tasks.Select(t => model.NewIntVar(0, horizon - durations[t.Index], $"start{t.Index}")).ToArray();
            var intervals = tasks.Select(t => model.NewFixedSizeIntervalVar(starts[t.Index], durations[t.Index], $"task{t.Index}")).ToArray();
            for (var t = 0; t < tasks.Count; t++)
            {
                if (problem.Predecessor[t] is var p and >= 0) model.Add(starts[t] >= starts[p] + durations[p]);
            }
            foreach (var group in tasks.GroupBy(t => (t.Model, t.Replica, t.Stage, t.Kind)))
            {
                var ordered = group.OrderBy(t => t.MicroBatch).ToArray();
                for (var k = 1; k < ordered.Length; k++) model.Add(starts[ordered[k].Index] >= starts[ordered[k - 1].Index] + durations[ordered[k - 1].Index]);
            }
            foreach (var device in tasks.GroupBy(t => t.Device)) model.AddNoOverlap(device.Select(t => intervals[t.Index]));
            foreach (var group in incumbent.Devices.SelectMany(d => d).GroupBy(s => (s.Task.Model, s.Task.Replica, s.Task.Stage, s.Task.Kind)))
            {
                // The k-th earliest start of a group goes to its micro-batch k: still a valid plan, as every
                // stage's k-th start follows the k-th end before it (and memory held on a device counts
                // forwards begun and backwards ended, whatever their labels).
                var times = group.Select(s => s.Start).Order().ToArray();
                var labels = group.Select(s => s.Task).OrderBy(t => t.MicroBatch).ToArray();
                for (var k = 0; k < labels.Length; k++) model.AddHint(starts[labels[k].Index], (long)Math.Round(times[k] * scale));
            }
            return new Exact(model, starts, durations, scale, horizon, problem);
        }

        /// <summary>Each device's tasks in the order of the solver's start times, or null when it found nothing <paramref name="better"/> than the incumbent.</summary>
        public int[][]? Solve(TimeSpan limit, long seed, bool deterministic, Func<double, bool> better)
        {
            // CP-SAT's portfolio needs several workers for its large-neighbourhood search: on 2 cores, 4 workers
            // found 606-607 on the 16/16/64 configuration where 2 found 615 in the same time.
            var solver = new CpSolver
            {
                StringParameters = deterministic
                    ? $"num_workers:1,random_seed:{seed % int.MaxValue},max_deterministic_time:{Math.Min(limit.TotalSeconds, MaxDeterministicSeconds)}"
                    : $"num_workers:{Math.Max(4, Environment.ProcessorCount)},random_seed:{seed % int.MaxValue},max_time_in_seconds:{limit.TotalSeconds}",
            };
            var status = solver.Solve(Model);
            if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible) || !better(solver.ObjectiveValue)) return null;
            return Problem.Tasks.GroupBy(t => t.Device).OrderBy(g => g.Key)
                .Select(g => g.OrderBy(t => solver.Value(Starts[t.Index])).Select(t => t.Index).ToArray()).ToArray();
        }
    }

    /// <summary>The smallest of 1, 10, 100, 1000 that makes every value a whole number, or null.</summary>
    private static long? ScaleOf(IEnumerable<double> values)
    {
        var all = values.ToArray();
        foreach (var scale in new long[] { 1, 10, 100, 1000 })
        {
            if (all.All(v => Math.Abs(v * scale - Math.Round(v * scale)) < 1e-9)) return scale;
        }
        return null;
    }
}
