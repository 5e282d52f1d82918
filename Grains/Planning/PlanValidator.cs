namespace Grains.Planning;

/// <summary>
/// Checks a plan against its problem from first principles, independently of how it was made:
/// every task exactly once, on its stage's device, for its duration; each pass after the pass it
/// depends on; no two tasks of a device overlapping; peak memory within the cap. Returns the problems.
/// </summary>
public static class PlanValidator
{
    private const double Tolerance = 1e-9;

    public static IReadOnlyList<string> Validate(PipelinePlan plan)
    {
        var problem = plan.Problem;
        var errors = new List<string>();
        if (plan.Devices.Count != problem.Devices) errors.Add($"the plan has {plan.Devices.Count} devices, the problem {problem.Devices}");
        var placed = new Dictionary<(PipelineModel, int, int, int, PassKind), ScheduledTask>();
        for (var d = 0; d < plan.Devices.Count; d++)
        {
            foreach (var s in plan.Devices[d])
            {
                var t = s.Task;
                var key = (t.Model, t.Replica, t.MicroBatch, t.Stage, t.Kind);
                if (!placed.TryAdd(key, s)) errors.Add($"{Name(t)} appears twice");
                var device = t.Model == PipelineModel.Actor ? t.Stage : problem.CriticDevice(t.Replica, t.Stage);
                if (device != d) errors.Add($"{Name(t)} runs on device {d}, but its stage lives on device {device}");
                var duration = (t.Model == PipelineModel.Actor ? problem.F0 : problem.F1) * (t.Kind == PassKind.F ? 1 : 2);
                if (Math.Abs(s.End - s.Start - duration) > Tolerance) errors.Add($"{Name(t)} takes {s.End - s.Start}, not {duration}");
                if (s.Start < -Tolerance) errors.Add($"{Name(t)} starts before 0");
            }
            var ordered = plan.Devices[d].OrderBy(s => s.Start).ToList();
            for (var i = 1; i < ordered.Count; i++)
            {
                if (ordered[i].Start < ordered[i - 1].End - Tolerance) errors.Add($"device {d}: {Name(ordered[i].Task)} starts at {ordered[i].Start} before {Name(ordered[i - 1].Task)} ends at {ordered[i - 1].End}");
            }
            if (problem.MemoryCap is { } cap)
            {
                var peak = ScheduleDecoder.PeakMemory(ordered.Select(s => s.Task));
                if (peak > cap + Tolerance) errors.Add($"device {d}: peak memory {peak} exceeds the cap {cap}");
            }
        }

        foreach (var (model, replicas, microBatches, stages) in new[] { (PipelineModel.Actor, 1, problem.M0, problem.Pp0), (PipelineModel.Critic, problem.Replicas, problem.M1, problem.Pp1) })
        {
            for (var r = 0; r < replicas; r++)
            {
                for (var m = 0; m < microBatches; m++)
                {
                    ScheduledTask? previous = null;
                    var chain = Enumerable.Range(0, stages).Select(s => (s, PassKind.F)).Concat(Enumerable.Range(0, stages).Reverse().Select(s => (s, PassKind.B)));
                    foreach (var (stage, kind) in chain)
                    {
                        if (!placed.TryGetValue((model, r, m, stage, kind), out var current))
                        {
                            errors.Add($"{model} replica {r} micro-batch {m} {kind} stage {stage} is missing");
                            previous = null;
                            continue;
                        }
                        if (previous is not null && current.Start < previous.End - Tolerance)
                        {
                            errors.Add($"{Name(current.Task)} starts at {current.Start} before {Name(previous.Task)} ends at {previous.End}");
                        }
                        previous = current;
                    }
                }
            }
        }
        return errors;
    }

    private static string Name(PipelineTask t) => $"{t.Model} r{t.Replica} mb{t.MicroBatch} {t.Kind}{t.Stage}";
}
