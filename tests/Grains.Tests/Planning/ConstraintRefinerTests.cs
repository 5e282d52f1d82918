using Grains.Planning;

namespace Grains.Tests.Planning;

public sealed class ConstraintRefinerTests
{
    [Fact]
    public void Cp_sat_takes_sequential_1f1b_to_the_lower_bound()
    {
        // 16 devices, a 16-stage actor with a reversed 8-stage critic in two replicas: sequential 1F1B is 262, the bound 186.
        var problem = new PipelineProblem(16, 8, 16, 8, 2, 2, 1.64, 2);
        var sequential = Baselines.Sequential1F1B(problem);
        var bound = MakespanLowerBound.Compute(problem);

        var orders = ConstraintRefiner.Refine(problem, sequential, bound, TimeSpan.FromSeconds(30), seed: 1, deterministic: true);

        var plan = ScheduleDecoder.Decode(problem, orders!);
        (sequential.Makespan, bound).Should().Be((262, 186));
        plan.Makespan.Should().Be(186);
        PlanValidator.Validate(plan).Should().BeEmpty();
    }

    [Fact]
    public void Under_a_memory_cap_the_refined_plan_keeps_to_it()
    {
        // Capped at what sequential 1F1B needs: the fused plan must be faster within the same memory.
        var cap = Baselines.Sequential1F1B(new PipelineProblem(4, 2, 8, 4, 2, 1, 1, 1)).PeakMemory.Max();
        var capped = new PipelineProblem(4, 2, 8, 4, 2, 1, 1, 1, memoryCap: cap);
        var sequential = Baselines.Sequential1F1B(capped);

        var orders = ConstraintRefiner.Refine(capped, sequential, MakespanLowerBound.Compute(capped), TimeSpan.FromSeconds(10), seed: 1, deterministic: true);

        var plan = ScheduleDecoder.Decode(capped, orders!);
        plan.Makespan.Should().BeLessThan(sequential.Makespan);
        plan.PeakMemory.Should().OnlyContain(m => m <= cap);
        PlanValidator.Validate(plan).Should().BeEmpty();
    }

    [Fact]
    public void Stage_limits_hold_each_stage_to_its_micro_batches_in_flight()
    {
        // The actor alone on 2 stages, 3 micro-batches, forward 1 and backward 2. With one micro-batch in flight on
        // each stage the chains run one after the other, 3 x (1 + 1 + 2 + 2) = 18; with two on the first stage it is
        // 1F1B, (3 + 2 - 1) x 3 = 12.
        var problem = new PipelineProblem(2, 1, 3, 0, 1, 1, 1, 1);

        var serial = ConstraintRefiner.WithinStageLimits(problem, [1, 1], makespan: 18, TimeSpan.FromSeconds(10), seed: 1, deterministic: true);
        var tooShort = ConstraintRefiner.WithinStageLimits(problem, [1, 1], makespan: 17, TimeSpan.FromSeconds(10), seed: 1, deterministic: true);
        var oneFOneB = ConstraintRefiner.WithinStageLimits(problem, [2, 1], makespan: 12, TimeSpan.FromSeconds(10), seed: 1, deterministic: true);

        tooShort.Should().BeNull();
        var (plan, pipelined) = (ScheduleDecoder.Decode(problem, serial!), ScheduleDecoder.Decode(problem, oneFOneB!));
        (plan.Makespan, pipelined.Makespan).Should().Be((18, 12));
        plan.PeakMemory.Should().Equal(1.0, 1.0);
        pipelined.PeakMemory.Should().Equal(2.0, 1.0);
        PlanValidator.Validate(plan).Should().BeEmpty();
        PlanValidator.Validate(pipelined).Should().BeEmpty();
    }
}
