using Google.OrTools.Sat;

namespace Grains.Planning;

/// <summary>
/// Improves a plan's makespan with Google OR-Tools' CP-SAT solver on an exact model of the problem:
/// a start time per task, its chain's order, no two tasks at once on a device, and the memory cap as a
/// reservoir (a forward's start takes its micro-batch's memory, the backward's end gives it back).
/// Micro-batches of one model are identical, so (by exchanging the remainders of two chains wherever
/// they cross) some optimal plan runs each stage's forwards, and its backwards, in micro-batch order:
/// the model says so, which prunes the search enormously. The incumbent plan, relabelled into that
/// order, is the solver's hint.
/// </summary>
public static class ConstraintRefiner
{
    /// <summary>Better device orders than <paramref name="incumbent"/>'s, or null when none were found in time (or times are not multiples of 1/1000).</summary>
    /// <param name="deterministic">One worker and a deterministic time limit: the same inputs give the same answer.</param>
    public static int[][]? Refine(PipelineProblem problem, PipelinePlan incumbent, double lowerBound, TimeSpan limit, long seed, bool deterministic)
    {
        if (limit <= TimeSpan.Zero || Scale(problem.Tasks.Select(t => t.Duration)) is not { } scale) return null;
        var tasks = problem.Tasks;
        var model = new CpModel();
        var horizon = (long)Math.Round(incumbent.Makespan * scale);
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
        if (problem.MemoryCap is { } cap)
        {
            if (Scale(tasks.Select(t => t.Memory).Append(cap)) is not { } memoryScale) return null;
            foreach (var device in tasks.GroupBy(t => t.Device))
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
        foreach (var t in tasks) model.Add(makespan >= starts[t.Index] + durations[t.Index]);
        model.Minimize(makespan);
        foreach (var group in incumbent.Devices.SelectMany(d => d).GroupBy(s => (s.Task.Model, s.Task.Replica, s.Task.Stage, s.Task.Kind)))
        {
            // The k-th earliest start of a group goes to its micro-batch k: still a valid plan, as every
            // stage's k-th start follows the k-th end before it.
            var times = group.Select(s => s.Start).Order().ToArray();
            var labels = group.Select(s => s.Task).OrderBy(t => t.MicroBatch).ToArray();
            for (var k = 0; k < labels.Length; k++) model.AddHint(starts[labels[k].Index], (long)Math.Round(times[k] * scale));
        }

        // CP-SAT's portfolio needs several workers for its large-neighbourhood search: on 2 cores, 4 workers
        // found 606-607 on the 16/16/64 configuration where 2 found 615 in the same time.
        var solver = new CpSolver
        {
            StringParameters = deterministic
                ? $"num_workers:1,random_seed:{seed % int.MaxValue},max_deterministic_time:{limit.TotalSeconds}"
                : $"num_workers:{Math.Max(4, Environment.ProcessorCount)},random_seed:{seed % int.MaxValue},max_time_in_seconds:{limit.TotalSeconds}",
        };
        var status = solver.Solve(model);
        if (status is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible) || solver.ObjectiveValue >= horizon) return null;
        return problem.Tasks.GroupBy(t => t.Device).OrderBy(g => g.Key)
            .Select(g => g.OrderBy(t => solver.Value(starts[t.Index])).Select(t => t.Index).ToArray()).ToArray();
    }

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
