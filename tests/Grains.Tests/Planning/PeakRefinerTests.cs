using Grains.Planning;

namespace Grains.Tests.Planning;

public sealed class PeakRefinerTests
{
    // One model in 2 stages, 4 micro-batches, a forward 1 and a backward 2, a micro-batch holding 1: every forward
    // first (GPipe) holds 4 on stage 0 and ends at 15, the bound (m + p - 1) x 3; 1F1B ends there too holding 2, and
    // nothing holds 1 (a micro-batch's whole chain, 6, four times over is 24).
    private static readonly PipelineProblem OneModel = new(2, 2, 4, 0, 1, 1, 1, 1);

    private static int[][] EveryForwardFirst(PipelineProblem problem) =>
        [.. Enumerable.Range(0, problem.Devices).Select(d => problem.Tasks.Where(t => t.Device == d).OrderBy(t => t.Kind).ThenBy(t => t.MicroBatch).Select(t => t.Index).ToArray())];

    [Fact]
    public void The_whole_plan_re_planned_holds_what_1f1b_holds_in_the_same_time()
    {
        var gpipe = ScheduleDecoder.Decode(OneModel, EveryForwardFirst(OneModel));

        var orders = PeakRefiner.Refine(OneModel, EveryForwardFirst(OneModel), (0, gpipe.Makespan), (0, 1), TimeSpan.FromSeconds(10), seed: 1, deterministic: true);

        var plan = ScheduleDecoder.Decode(OneModel, orders!);
        (gpipe.Makespan, gpipe.PeakMemory[0]).Should().Be((15, 4));
        plan.Makespan.Should().Be(15);
        plan.PeakMemory.Should().Equal(2, 1);
        PlanValidator.Validate(plan).Should().BeEmpty();
    }

    [Fact]
    public void Passes_outside_the_part_keep_their_times()
    {
        var problem = new PipelineProblem(4, 2, 8, 4, 2, 1, 1, 1);
        var start = FusedPlanner.Greedy(problem);
        var before = ScheduleDecoder.Decode(problem, start);

        var orders = PeakRefiner.Refine(problem, start, (10, 40), (1, 2), TimeSpan.FromSeconds(10), seed: 1, deterministic: true);

        var after = ScheduleDecoder.Decode(problem, orders!);
        var was = before.Devices.SelectMany(d => d).ToDictionary(s => s.Task.Index, s => s.Start);
        var kept = before.Devices.SelectMany(d => d).Where(s => s.Start < 10 || s.Start >= 40 || s.Task.Device is 0 or 3).Select(s => s.Task.Index).ToHashSet();
        // Decoding again may start a kept pass sooner, never later; the part's passes stay inside it.
        after.Devices.SelectMany(d => d).Where(s => kept.Contains(s.Task.Index)).Should().OnlyContain(s => s.Start <= was[s.Task.Index]);
        after.Makespan.Should().BeLessThanOrEqualTo(before.Makespan);
        (after.PeakMemory.Sum() + 4 * after.PeakMemory.Max()).Should().BeLessThanOrEqualTo(before.PeakMemory.Sum() + 4 * before.PeakMemory.Max());
        PlanValidator.Validate(after).Should().BeEmpty();
    }
}
