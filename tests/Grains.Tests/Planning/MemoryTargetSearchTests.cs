using System.Diagnostics;
using Grains.Planning;

namespace Grains.Tests.Planning;

public sealed class MemoryTargetSearchTests
{
    [Fact]
    public void A_target_is_shared_on_each_device_in_proportion_to_what_1f1b_holds_there()
    {
        // 16 devices, actor and critic in 16 stages (1.64 and 1 a micro-batch). Device 0 holds actor stage 0 (1F1B: 16
        // in flight) and critic stage 15 (1): of a target of 40, shares of 16 x 40 / 27.24 = 23.49 and 1.47, rounded
        // down to 23 and 1; the 1.28 left is too little for another actor micro-batch, so the critic gets one: 2.
        // Device 15: the actor's last stage (1) and the critic's first (16): 2.27 and 36.28, so 2 and 36 (0.72 left).
        var problem = new PipelineProblem(16, 16, 64, 64, 2, 1, 1.64, 1);

        var limits = MemoryTargetSearch.LimitsFor(problem, 40);

        // Stages in the order of their first tasks: the actor's 16, then the critic's.
        (limits[0], limits[16 + 15]).Should().Be((23, 2));
        (limits[15], limits[16 + 0]).Should().Be((2, 36));
        for (var device = 0; device < 16; device++)
        {
            (1.64 * limits[device] + limits[16 + problem.CriticStageOn(device)]).Should().BeLessThanOrEqualTo(40);
        }
        MemoryTargetSearch.LimitsFor(problem, 0.5).Should().OnlyContain(l => l == 1, "a stage that may hold nothing stops its pipeline");
    }

    [Fact]
    public void Plans_under_falling_targets_end_no_later_and_hold_less_than_the_plan_they_start_from()
    {
        // 8 devices, actor 8 stages, critic 8 in reverse: CP-SAT's plan without limits, then targets at its makespan.
        var problem = new PipelineProblem(8, 8, 16, 16, 5, 2, 1.95, 1);
        var start = ScheduleDecoder.Decode(problem, FusedPlanner.Greedy(problem));
        var packed = ScheduleDecoder.Decode(problem, ConstraintRefiner.Refine(problem, start, MakespanLowerBound.Compute(problem), TimeSpan.FromSeconds(5), seed: 1, deterministic: true)!);

        var leaner = MemoryTargetSearch.Leanest(problem, packed.Makespan, packed.PeakMemory.Max(), Stopwatch.StartNew(), TimeSpan.MaxValue, TimeSpan.FromSeconds(2), seed: 1, deterministic: true);

        var plan = ScheduleDecoder.Decode(problem, leaner!);
        plan.Makespan.Should().BeLessThanOrEqualTo(packed.Makespan);
        plan.PeakMemory.Max().Should().BeLessThan(packed.PeakMemory.Max());
        PlanValidator.Validate(plan).Should().BeEmpty();
    }
}
