namespace Grains.Planning;

/// <summary>
/// A makespan no plan can beat, the largest of: one micro-batch's path through the actor (3 f0 pp0)
/// and through the critic (3 f1 pp1); the total work over the devices; and, per device, the earliest
/// its first task can start (the forwards of earlier stages) plus its own work plus the shortest tail
/// after its last task (the backwards still to run on earlier stages); and the same per device and
/// model: a model's first pass on a device waits for its earlier stages' forwards, and its last backward
/// there is followed by the earlier stages' backwards (for the actor's last stage this is the critical
/// path of the actor's pipeline, 3 f0 (m0 + pp0 - 1)).
/// </summary>
public static class MakespanLowerBound
{
    public static double Compute(PipelineProblem p)
    {
        var bound = Math.Max(p.M0 > 0 ? 3 * p.F0 * p.Pp0 : 0, p.M1 > 0 ? 3 * p.F1 * p.Pp1 : 0);
        bound = Math.Max(bound, p.Tasks.Sum(t => t.Duration) / p.Devices);
        for (var d = 0; d < p.Devices; d++)
        {
            var work = 3 * (p.M0 * p.F0 + p.M1 * p.F1);
            var j = p.CriticStageOn(d);
            var head = Math.Min(p.M0 > 0 ? d * p.F0 : double.MaxValue, p.M1 > 0 ? j * p.F1 : double.MaxValue);
            var tail = Math.Min(p.M0 > 0 ? 2 * d * p.F0 : double.MaxValue, p.M1 > 0 ? 2 * j * p.F1 : double.MaxValue);
            bound = Math.Max(bound, head + work + tail);
            if (p.M0 > 0) bound = Math.Max(bound, d * p.F0 + 3 * p.M0 * p.F0 + 2 * d * p.F0);
            if (p.M1 > 0) bound = Math.Max(bound, j * p.F1 + 3 * p.M1 * p.F1 + 2 * j * p.F1);
        }
        return Math.Max(bound, OneMachineRelaxation(p));
    }

    /// <summary>
    /// The strongest of the per-device bounds: each device alone, every task with its own head (the work
    /// before it in its chain) and tail (the work after it), preemption allowed. Jackson's preemptive rule
    /// (always run the released task with the longest tail) solves that relaxation exactly, and its
    /// max(end + tail) bounds any plan.
    /// </summary>
    public static double OneMachineRelaxation(PipelineProblem p)
    {
        var head = new double[p.Tasks.Count];
        var tail = new double[p.Tasks.Count];
        for (var t = 0; t < p.Tasks.Count; t++)
        {
            var before = p.Predecessor[t];
            head[t] = before >= 0 ? head[before] + p.Tasks[before].Duration : 0;
        }
        for (var t = p.Tasks.Count - 1; t >= 0; t--)
        {
            var before = p.Predecessor[t];
            if (before >= 0) tail[before] = tail[t] + p.Tasks[t].Duration;
        }
        var bound = 0.0;
        foreach (var device in p.Tasks.GroupBy(t => t.Device))
        {
            var pending = device.OrderBy(t => head[t.Index]).ToList();
            var ready = new PriorityQueue<int, double>();
            var left = new Dictionary<int, double>();
            var (time, next) = (0.0, 0);
            while (next < pending.Count || ready.Count > 0)
            {
                if (ready.Count == 0) time = Math.Max(time, head[pending[next].Index]);
                while (next < pending.Count && head[pending[next].Index] <= time + 1e-12)
                {
                    var t = pending[next++].Index;
                    left[t] = p.Tasks[t].Duration;
                    ready.Enqueue(t, -tail[t]);
                }
                var run = ready.Peek();
                var until = next < pending.Count ? Math.Min(time + left[run], head[pending[next].Index]) : time + left[run];
                left[run] -= until - time;
                time = until;
                if (left[run] <= 1e-12)
                {
                    ready.Dequeue();
                    bound = Math.Max(bound, time + tail[run]);
                }
            }
        }
        return bound;
    }
}
