using System.Diagnostics;

namespace Grains.Planning;

/// <summary>
/// A lean plan at a given makespan, asked of CP-SAT under falling memory targets. A target becomes a limit
/// per stage (<see cref="LimitsFor"/>), precedences the solver handles as cheaply as a chain's, and a plan
/// at the makespan within those limits holds at most the target on every device. The targets are bisected
/// between sequential 1F1B's peak and the leanest plan already known, each asked for a short while: a
/// target the solver meets lowers the top to the plan's peak, one it does not meet in time raises the bottom.
/// Where annealing a packed plan's memory stalls, this starts it lower: 16/16/64/64 at 606 met 38.72 in 6 s
/// and 37.5 in 4 (at 37.44), where CP-SAT's shortest plan holds 75.44 and annealing the plan of CP-SAT's
/// default portfolio for the rest of the minute ended at 54-62.
/// </summary>
public static class MemoryTargetSearch
{
    /// <summary>The leanest plan found at <paramref name="makespan"/> before <paramref name="until"/>, or null when no target below <paramref name="known"/> was met.</summary>
    /// <param name="known">The peak of the leanest plan already known at the makespan: the first top.</param>
    /// <param name="probe">How long the solver is given for one target.</param>
    public static int[][]? Leanest(PipelineProblem problem, double makespan, double known, Stopwatch clock, TimeSpan until, TimeSpan probe, long seed, bool deterministic)
    {
        var step = Math.Max(Math.Min(problem.Mem0, problem.Mem1), 1e-3);
        var (low, high) = (Baselines.Sequential1F1B(problem).PeakMemory.Max(), known);
        int[][]? leanest = null;
        // Two targets missed in a row end it: near the frontier the solver's time varies from seed to seed more than
        // from target to target (16/16/32/32 at 318: 36.83 met in 3 s, then missed in 9 s with another seed).
        for (var (round, missed) = (0, 0); high - low > step && missed < 2 && until - clock.Elapsed > probe / 2; round++)
        {
            var target = (low + high) / 2;
            var asked = clock.Elapsed;
            var found = Within(problem, target, makespan, Min(probe, until - clock.Elapsed), seed + round, deterministic);
            if (found is null)
            {
                (low, missed) = (target, missed + 1);
                continue;
            }
            missed = 0;
            // A target that takes the solver longer than three times the first one met is not met in time: on a small
            // plan a probe is a fraction of a second, and the time not spent on targets it cannot meet goes to annealing.
            if (leanest is null && !deterministic) probe = Min(probe, (clock.Elapsed - asked) * 3);
            leanest = found;
            high = ScheduleDecoder.PeakMemory(problem, found);
        }
        return leanest;
    }

    /// <summary>
    /// Device orders of a plan no longer than <paramref name="makespan"/> whose stages keep within the limits of
    /// <paramref name="target"/> (or of the problem's cap, where lower), or null when CP-SAT found none in time.
    /// The limits hold every device within the target, so the solver is not given the cap itself: a reservoir per
    /// device made it find nothing in 30 s where the limits alone took 5.
    /// </summary>
    public static int[][]? Within(PipelineProblem problem, double target, double makespan, TimeSpan limit, long seed, bool deterministic)
    {
        var cap = problem.MemoryCap ?? double.PositiveInfinity;
        var found = ConstraintRefiner.WithinStageLimits(problem.WithoutCap(), LimitsFor(problem, Math.Min(target, cap)), makespan, limit, seed, deterministic);
        // Limits of one micro-batch a stage may hold more than a target below two micro-batches' memory.
        return found is not null && ScheduleDecoder.PeakMemory(problem, found) <= cap + 1e-9 ? found : null;
    }

    private static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;

    /// <summary>
    /// Per stage (in the order of the stages' first tasks), how many micro-batches it may keep in flight so
    /// that no device holds more than <paramref name="target"/>. A device holds one actor stage and one
    /// critic stage: the target is shared between them in proportion to what each holds under 1F1B (the
    /// stages from it to its model's last), both shares rounded down, and what rounding left goes first to the
    /// stage whose micro-batches hold more, then to the other; each limit at least one (fewer would stop the
    /// pipeline) and at most its micro-batches. (Giving all that is left to the critic, 16/16/64/64 at 606
    /// met a target of 41 and not 38.72 in 40 s; this way it met 38.72 in 6 s and 37.5 in 4.)
    /// </summary>
    public static int[] LimitsFor(PipelineProblem problem, double target)
    {
        var stages = problem.Tasks.GroupBy(t => (t.Model, t.Replica, t.Stage)).Select(g => g.Key).ToList();
        var limits = new int[stages.Count];
        for (var device = 0; device < problem.Devices; device++)
        {
            var (replica, criticStage) = (device / problem.Pp1, problem.CriticStageOn(device));
            var (actorHeld, criticHeld) = (problem.Pp0 - device, problem.Pp1 - criticStage);
            var held = problem.Mem0 * actorHeld + problem.Mem1 * criticHeld;
            var (actor, critic) = held > 0
                ? ((int)Math.Floor(actorHeld * target / held + 1e-9), (int)Math.Floor(criticHeld * target / held + 1e-9))
                : (problem.M0, problem.M1);
            var left = target - problem.Mem0 * actor - problem.Mem1 * critic;
            int More(double memory, ref double room)
            {
                if (memory <= 0 || room <= 0) return 0;
                var more = (int)Math.Floor(room / memory + 1e-9);
                room -= more * memory;
                return more;
            }
            if (problem.Mem0 >= problem.Mem1) { actor += More(problem.Mem0, ref left); critic += More(problem.Mem1, ref left); }
            else { critic += More(problem.Mem1, ref left); actor += More(problem.Mem0, ref left); }
            if (stages.IndexOf((PipelineModel.Actor, 0, device)) is var a and >= 0) limits[a] = Math.Clamp(actor, 1, Math.Max(1, problem.M0));
            if (stages.IndexOf((PipelineModel.Critic, replica, criticStage)) is var c and >= 0) limits[c] = Math.Clamp(critic, 1, Math.Max(1, problem.M1));
        }
        return limits;
    }
}
