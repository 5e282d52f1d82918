using System.Diagnostics;
using Google.OrTools.Sat;

namespace Grains.Planning;

/// <summary>
/// Lowers a plan's peak activation memory by re-planning one part of it exactly with CP-SAT, the rest kept
/// (a large-neighbourhood search): the passes of devices [firstDevice, lastDevice] that start inside
/// [from, to) may move anywhere from <c>from</c> to the last of their ends, every other pass keeps its time.
/// The solver minimises P times the largest device's peak plus the sum of the devices' peaks
/// (<see cref="MemoryAnnealer"/>'s energy) over what can change. A device's memory depends only on the order
/// of its passes, and decoding the orders the solver returns (each pass as soon as it may start) makes no
/// pass later, so the plan holds what the solver found and is no longer than it was.
/// </summary>
public static class PeakRefiner
{
    /// <summary>
    /// Re-plans parts of the plan in turn until <paramref name="deadline"/> (or until it holds at most
    /// <paramref name="goal"/>), keeping each result that is no longer and whose energy is no higher. The parts
    /// alternate: five neighbouring devices over the whole plan (where a critic replica's first stages hold most
    /// of its micro-batches from the start: 16/8/32/16 at 330 from 31.64 to 29.52 in a second, where annealing
    /// stays), and a quarter of the plan's time on every device around the moment the device with the largest
    /// peak reaches it (where the forwards of a model flood the first stages, every device's order takes part:
    /// 16/16/64/64 at 607 from 59.04 to 41.00 in 120 s, more than a 60 s plan has to spare).
    /// </summary>
    public static int[][] Lower(PipelineProblem problem, int[][] orders, double makespan, Stopwatch clock, TimeSpan deadline, long seed, double goal = 0)
    {
        var random = new Random(unchecked((int)seed));
        var (plan, energy) = Evaluate(problem, orders);
        for (var round = 0; clock.Elapsed < deadline && plan.PeakMemory.Max() > goal + 1e-9; round++)
        {
            var peaks = plan.PeakMemory;
            var device = random.NextDouble() < 0.7 ? Enumerable.Range(0, peaks.Count).MaxBy(d => peaks[d]) : random.Next(peaks.Count);
            var (window, devices) = round % 2 == 0
                ? ((0.0, makespan), (Math.Max(0, device - 2), Math.Min(problem.Devices - 1, device + 2)))
                : (Around(PeakTime(plan.Devices[device]), makespan / 4, random), (0, problem.Devices - 1));
            var limit = TimeSpan.FromSeconds(Math.Min(5, (deadline - clock.Elapsed).TotalSeconds));
            if (Refine(problem, orders, window, devices, limit, seed + round, deterministic: false) is not { } refined) continue;
            var (tried, triedEnergy) = Evaluate(problem, refined);
            if (tried.Makespan > makespan + 1e-9 || triedEnergy > energy + 1e-9) continue;
            (orders, plan, energy) = (refined, tried, triedEnergy);
        }
        return orders;
    }

    private static (double From, double To) Around(double time, double width, Random random)
    {
        var centre = time + (random.NextDouble() - 0.5) * width;
        return (centre - width / 2, centre + width / 2);
    }

    /// <summary>When a device's order first reaches its peak.</summary>
    private static double PeakTime(IReadOnlyList<ScheduledTask> device)
    {
        var (held, peak, at) = (0.0, 0.0, 0.0);
        foreach (var s in device)
        {
            held += s.Task.Kind == PassKind.F ? s.Task.Memory : -s.Task.Memory;
            if (held > peak + 1e-9) (peak, at) = (held, s.Start);
        }
        return at;
    }

    private static (PipelinePlan Plan, double Energy) Evaluate(PipelineProblem problem, int[][] orders)
    {
        var plan = ScheduleDecoder.Decode(problem, orders);
        return (plan, plan.PeakMemory.Sum() + problem.Devices * plan.PeakMemory.Max());
    }

    /// <summary>The orders with the part re-planned, or null when the solver found nothing in time (or times or memory are not multiples of 1/1000).</summary>
    /// <param name="deterministic">One worker and a deterministic time limit: the same inputs give the same answer.</param>
    public static int[][]? Refine(PipelineProblem problem, int[][] orders, (double From, double To) window, (int First, int Last) devices, TimeSpan limit, long seed, bool deterministic)
    {
        var tasks = problem.Tasks;
        if (limit <= TimeSpan.Zero || ConstraintRefiner.Scale(tasks.Select(t => t.Duration)) is not { } scale || ConstraintRefiner.Scale(tasks.Select(t => t.Memory)) is not { } memoryScale) return null;
        var ends = new double[tasks.Count];
        if (double.IsPositiveInfinity(ScheduleDecoder.Makespan(problem, orders, ends))) return null;
        var duration = tasks.Select(t => (long)Math.Round(t.Duration * scale)).ToArray();
        var end = ends.Select(e => (long)Math.Round(e * scale)).ToArray();
        var start = tasks.Select(t => end[t.Index] - duration[t.Index]).ToArray();
        var (from, to) = ((long)Math.Round(window.From * scale), (long)Math.Round(window.To * scale));
        var free = tasks.Select(t => start[t.Index] >= from && start[t.Index] < to && t.Device >= devices.First && t.Device <= devices.Last).ToArray();
        if (!free.Contains(true)) return null;
        // Every moved pass ends by the last of their ends, so after it every device holds what it held.
        var last = tasks.Where(t => free[t.Index]).Max(t => end[t.Index]);
        var first = tasks.Where(t => free[t.Index]).Min(t => start[t.Index]);

        var model = new CpModel();
        var starts = new LinearExpr[tasks.Count];
        foreach (var t in tasks)
        {
            if (!free[t.Index]) { starts[t.Index] = LinearExpr.Constant(start[t.Index]); continue; }
            var variable = model.NewIntVar(first, last - duration[t.Index], $"start{t.Index}");
            model.AddHint(variable, start[t.Index]);
            starts[t.Index] = variable;
        }
        for (var t = 0; t < tasks.Count; t++)
        {
            if (problem.Predecessor[t] is var p and >= 0 && (free[t] || free[p])) model.Add(starts[t] >= starts[p] + duration[p]);
        }
        // Each stage's passes of a kind in micro-batch order where the plan has them so: it prunes the search.
        foreach (var group in tasks.GroupBy(t => (t.Model, t.Replica, t.Stage, t.Kind)))
        {
            var ordered = group.OrderBy(t => t.MicroBatch).ToArray();
            for (var k = 1; k < ordered.Length; k++)
            {
                var (x, y) = (ordered[k - 1].Index, ordered[k].Index);
                if ((free[x] || free[y]) && start[x] < start[y]) model.Add(starts[y] >= starts[x] + duration[x]);
            }
        }

        long Memory(PipelineTask t) => (long)Math.Round(t.Memory * memoryScale);
        var most = tasks.Where(t => t.Kind == PassKind.F).Sum(Memory);
        var largest = model.NewIntVar(0, most, "largest");
        var peaks = new List<IntVar>();
        foreach (var device in tasks.GroupBy(t => t.Device))
        {
            var touched = device.Where(t => free[t.Index] || end[t.Index] > first && start[t.Index] < last).ToArray();
            model.AddNoOverlap(touched.Select(t => model.NewFixedSizeIntervalVar(starts[t.Index], duration[t.Index], $"task{t.Index}")));
            // A micro-batch holds its memory on the device from its forward's start to its backward's end; inside
            // [first, last) the cumulative counts it, and the peak before and after stays what it was.
            var peak = model.NewIntVar(0, most, $"peak{device.Key}");
            var held = model.AddCumulative(peak);
            var backwards = device.Where(t => t.Kind == PassKind.B).ToDictionary(t => (t.Model, t.Replica, t.MicroBatch));
            foreach (var forward in device.Where(t => t.Kind == PassKind.F && Memory(t) > 0))
            {
                var backward = backwards[(forward.Model, forward.Replica, forward.MicroBatch)];
                var (f, g) = (forward.Index, backward.Index);
                if (!free[f] && !free[g] && Math.Max(start[f], first) >= Math.Min(end[g], last)) continue;
                var holdFrom = free[f] ? starts[f] : LinearExpr.Constant(Math.Max(start[f], first));
                var holdTo = free[g] ? starts[g] + duration[g] : LinearExpr.Constant(Math.Min(end[g], last));
                held.AddDemand(model.NewIntervalVar(holdFrom, model.NewIntVar(0, last - first, $"size{f}"), holdTo, $"held{f}"), Memory(forward));
            }
            model.Add(largest >= peak);
            peaks.Add(peak);
        }
        model.Minimize(problem.Devices * (LinearExpr)largest + LinearExpr.Sum(peaks));

        var solver = new CpSolver
        {
            StringParameters = deterministic
                ? $"num_workers:1,random_seed:{seed % int.MaxValue},max_deterministic_time:{limit.TotalSeconds}"
                : $"num_workers:{Math.Max(4, Environment.ProcessorCount)},random_seed:{seed % int.MaxValue},max_time_in_seconds:{limit.TotalSeconds}",
        };
        if (solver.Solve(model) is not (CpSolverStatus.Optimal or CpSolverStatus.Feasible)) return null;
        return [.. orders.Select(order => order.OrderBy(t => free[t] ? solver.Value(starts[t]) : start[t]).ToArray())];
    }
}
