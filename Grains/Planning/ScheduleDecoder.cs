namespace Grains.Planning;

/// <summary>
/// Turns per-device task orders into times: every task starts as soon as its device is free and its
/// predecessor has ended (a semi-active schedule). Orders that wait on each other in a cycle have no
/// schedule (a deadlock).
/// </summary>
public static class ScheduleDecoder
{
    /// <summary>The makespan of the orders, or +infinity when they deadlock. Fills <paramref name="ends"/> (by task index).</summary>
    public static double Makespan(PipelineProblem problem, int[][] orders, double[] ends)
    {
        var tasks = problem.Tasks;
        var predecessor = problem.Predecessor;
        Array.Fill(ends, -1);
        var next = new int[orders.Length];
        var free = new double[orders.Length];
        var remaining = tasks.Count;
        var makespan = 0.0;
        while (remaining > 0)
        {
            var progressed = false;
            for (var d = 0; d < orders.Length; d++)
            {
                var order = orders[d];
                while (next[d] < order.Length)
                {
                    var task = order[next[d]];
                    var before = predecessor[task];
                    if (before >= 0 && ends[before] < 0) break;
                    var start = before >= 0 ? Math.Max(free[d], ends[before]) : free[d];
                    ends[task] = free[d] = start + tasks[task].Duration;
                    if (free[d] > makespan) makespan = free[d];
                    next[d]++;
                    remaining--;
                    progressed = true;
                }
            }
            if (!progressed) return double.PositiveInfinity;
        }
        return makespan;
    }

    /// <summary>Decodes orders into a plan; throws when they deadlock.</summary>
    public static PipelinePlan Decode(PipelineProblem problem, int[][] orders)
    {
        var ends = new double[problem.Tasks.Count];
        if (double.IsPositiveInfinity(Makespan(problem, orders, ends))) throw new InvalidOperationException("the task orders deadlock");
        return new PipelinePlan(problem, orders.Select(order => (IReadOnlyList<ScheduledTask>)order
            .Select(t => new ScheduledTask(problem.Tasks[t], ends[t] - problem.Tasks[t].Duration, ends[t])).ToList()).ToList());
    }

    /// <summary>The largest device's peak activation memory under these device orders.</summary>
    public static double PeakMemory(PipelineProblem problem, int[][] orders) => orders.Max(o => PeakMemory(o.Select(t => problem.Tasks[t])));

    /// <summary>Peak activation memory of one device's order: a forward adds its micro-batch's memory, the matching backward frees it.</summary>
    public static double PeakMemory(IEnumerable<PipelineTask> order)
    {
        double held = 0, peak = 0;
        foreach (var task in order)
        {
            held += task.Kind == PassKind.F ? task.Memory : -task.Memory;
            peak = Math.Max(peak, held);
        }
        return peak;
    }
}
