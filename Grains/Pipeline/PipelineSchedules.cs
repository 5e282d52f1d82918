using Grains.Interfaces.Jobs;
using Grains.Interfaces.Pipeline;
using Grains.Planning;

namespace Grains.Pipeline;

/// <summary>
/// The built-in schedules (1F1B, GPipe, a fused plan from the planner) and the check every schedule
/// passes before it runs. A single model's replica r puts stage s on device r x stages + s.
/// </summary>
public static class PipelineSchedules
{
    /// <summary>A built-in schedule for one model (the fused one needs a plan: <see cref="Fused"/>).</summary>
    public static PipelineSchedule Of(PipelineScheduleKind kind, ModelLayout model) => kind switch
    {
        PipelineScheduleKind.OneForwardOneBackward => OneForwardOneBackward(model),
        PipelineScheduleKind.Gpipe => GPipe(model),
        _ => throw new ArgumentException($"schedule '{SpecNames.Of(kind)}' needs a plan"),
    };

    /// <summary>1F1B: each stage runs p - s - 1 warm-up forwards, then one forward and one backward in turn.</summary>
    public static PipelineSchedule OneForwardOneBackward(ModelLayout model) => Single("1f1b", model, stage =>
        Baselines.OneForwardOneBackward(model.Stages, stage, model.MicroBatches).Select(x => (x.MicroBatch, x.Kind == PassKind.B)));

    /// <summary>GPipe: every forward, then every backward in the same micro-batch order.</summary>
    public static PipelineSchedule GPipe(ModelLayout model) => Single("gpipe", model, _ =>
        Enumerable.Range(0, model.MicroBatches).Select(i => (i, false)).Concat(Enumerable.Range(0, model.MicroBatches).Select(i => (i, true))));

    /// <summary>A planner's plan (actor model 0, critic model 1, the critic's replicas reversed on the actor's devices), as a schedule.</summary>
    public static PipelineSchedule Fused(PipelinePlan plan, string actor = "actor", string critic = "critic")
    {
        var problem = plan.Problem;
        var models = new[] { new ModelLayout(actor, problem.Pp0, 1, problem.M0), new ModelLayout(critic, problem.Pp1, problem.Replicas, problem.M1) };
        return new PipelineSchedule("fused", models, plan.Devices.Select(order => order
            .Select(t => new PipelinePass((int)t.Task.Model, t.Task.Replica, t.Task.MicroBatch, t.Task.Stage, t.Task.Kind == PassKind.B)).ToArray()).ToArray());
    }

    /// <summary>
    /// <paramref name="copies"/> data-parallel copies of a schedule, copy c on devices c x D .. (c + 1) x D - 1
    /// with each model's replicas numbered on from the copy before (a fused plan on as many devices as it fills).
    /// </summary>
    public static PipelineSchedule Replicate(PipelineSchedule schedule, int copies)
    {
        if (copies < 1) throw new ArgumentOutOfRangeException(nameof(copies), copies, "at least one copy");
        var models = schedule.Models.Select(m => m with { Replicas = m.Replicas * copies }).ToArray();
        return new PipelineSchedule(schedule.Name, models, [.. Enumerable.Range(0, copies).SelectMany(c => schedule.Devices.Select(order =>
            order.Select(pass => pass with { Replica = c * schedule.Models[pass.Model].Replicas + pass.Replica }).ToArray()))]);
    }

    /// <summary>
    /// Two models' schedules on the same devices, one after the other: device d runs <paramref name="first"/>'s
    /// passes, then <paramref name="second"/>'s (its model numbers after the first's). Both must fill the same devices.
    /// </summary>
    public static PipelineSchedule OneAfterTheOther(PipelineSchedule first, PipelineSchedule second)
    {
        if (first.Devices.Length != second.Devices.Length) throw new ArgumentException($"'{first.Name}' runs on {first.Devices.Length} devices, '{second.Name}' on {second.Devices.Length}");
        var offset = first.Models.Length;
        return new PipelineSchedule(first.Name, [.. first.Models, .. second.Models], [.. first.Devices.Select((order, d) =>
            order.Concat(second.Devices[d].Select(pass => pass with { Model = pass.Model + offset })).ToArray())]);
    }

    /// <summary>The analytic bubble fraction of 1F1B (and GPipe) with equal stages: (p - 1) / (m + p - 1).</summary>
    public static double OneForwardOneBackwardBubble(int stages, int microBatches) => (stages - 1.0) / (microBatches + stages - 1.0);

    private static PipelineSchedule Single(string name, ModelLayout model, Func<int, IEnumerable<(int MicroBatch, bool Backward)>> order) =>
        new(name, [model], Enumerable.Range(0, model.Replicas).SelectMany(r => Enumerable.Range(0, model.Stages)
            .Select(s => order(s).Select(x => new PipelinePass(0, r, x.MicroBatch, s, x.Backward)).ToArray())).ToArray());

    /// <summary>
    /// The first reason <paramref name="schedule"/> cannot run, or null: a pass out of range or listed
    /// twice or not at all, a stage's passes on two devices, or an order that cannot be followed (a
    /// backward before its forward, stages out of order, or devices waiting on each other).
    /// </summary>
    public static string? Problem(PipelineSchedule schedule)
    {
        if (schedule.Models.Length == 0) return "it has no models";
        for (var m = 0; m < schedule.Models.Length; m++)
        {
            var layout = schedule.Models[m];
            if (layout.Stages < 1 || layout.Replicas < 1 || layout.MicroBatches < 1) return $"model {m} ({layout.Name}) needs at least one stage, replica and micro-batch";
        }
        var deviceOf = new Dictionary<(int Model, int Replica, int Stage), int>();
        var seen = new HashSet<PipelinePass>();
        for (var d = 0; d < schedule.Devices.Length; d++)
        {
            foreach (var pass in schedule.Devices[d])
            {
                if (pass.Model < 0 || pass.Model >= schedule.Models.Length) return $"device {d}: {pass} names no model of the schedule";
                var layout = schedule.Models[pass.Model];
                if (pass.Replica < 0 || pass.Replica >= layout.Replicas || pass.Stage < 0 || pass.Stage >= layout.Stages || pass.MicroBatch < 0 || pass.MicroBatch >= layout.MicroBatches)
                {
                    return $"device {d}: {pass} is outside {layout.Name}'s {layout.Replicas} replica(s), {layout.Stages} stage(s) and {layout.MicroBatches} micro-batch(es)";
                }
                if (!seen.Add(pass)) return $"device {d}: {pass} is listed twice";
                if (deviceOf.TryGetValue((pass.Model, pass.Replica, pass.Stage), out var other) && other != d)
                {
                    return $"{layout.Name} replica {pass.Replica} stage {pass.Stage} has passes on devices {other} and {d}; a stage lives on one device";
                }
                deviceOf[(pass.Model, pass.Replica, pass.Stage)] = d;
            }
        }
        var expected = schedule.Models.Select(l => l.Replicas * l.Stages * l.MicroBatches * 2).Sum();
        if (seen.Count != expected)
        {
            var missing = AllPasses(schedule).First(p => !seen.Contains(p));
            return $"{missing} is on no device";
        }
        return Deadlock(schedule);
    }

    /// <summary>Follows every device's order with unit-time passes; names the first stuck pass of each device if none can move.</summary>
    private static string? Deadlock(PipelineSchedule schedule)
    {
        var done = new HashSet<PipelinePass>();
        var next = new int[schedule.Devices.Length];
        var remaining = schedule.Devices.Sum(d => d.Length);
        while (remaining > 0)
        {
            var ready = new List<PipelinePass>();
            for (var d = 0; d < schedule.Devices.Length; d++)
            {
                if (next[d] < schedule.Devices[d].Length && Ready(schedule, schedule.Devices[d][next[d]], done)) ready.Add(schedule.Devices[d][next[d]]);
            }
            if (ready.Count == 0)
            {
                var stuck = Enumerable.Range(0, schedule.Devices.Length).Where(d => next[d] < schedule.Devices[d].Length)
                    .Select(d => $"device {d} at {schedule.Devices[d][next[d]]} waits for {Before(schedule, schedule.Devices[d][next[d]])}");
                return $"the order cannot be followed: {string.Join("; ", stuck)}";
            }
            foreach (var pass in ready)
            {
                done.Add(pass);
                remaining--;
            }
            for (var d = 0; d < schedule.Devices.Length; d++)
            {
                if (next[d] < schedule.Devices[d].Length && done.Contains(schedule.Devices[d][next[d]])) next[d]++;
            }
        }
        return null;
    }

    /// <summary>The pass that must end before <paramref name="pass"/> starts: the forward through the stage before, the backward through the stage after, or the last stage's own forward.</summary>
    private static PipelinePass? Before(PipelineSchedule schedule, PipelinePass pass)
    {
        var last = schedule.Models[pass.Model].Stages - 1;
        return !pass.Backward ? (pass.Stage == 0 ? null : pass with { Stage = pass.Stage - 1 })
            : pass.Stage == last ? pass with { Backward = false }
            : pass with { Stage = pass.Stage + 1 };
    }

    private static bool Ready(PipelineSchedule schedule, PipelinePass pass, HashSet<PipelinePass> done) =>
        Before(schedule, pass) is not { } before || done.Contains(before);

    private static IEnumerable<PipelinePass> AllPasses(PipelineSchedule schedule) =>
        schedule.Models.SelectMany((l, m) => Enumerable.Range(0, l.Replicas).SelectMany(r => Enumerable.Range(0, l.Stages).SelectMany(s =>
            Enumerable.Range(0, l.MicroBatches).SelectMany(i => new[] { new PipelinePass(m, r, i, s, false), new PipelinePass(m, r, i, s, true) }))));
}
