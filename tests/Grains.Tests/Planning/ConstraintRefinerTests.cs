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
    public void Holding_the_makespan_cp_sat_lowers_a_gpipe_plans_memory_to_what_1f1b_holds()
    {
        // One model, 2 stages, 4 micro-batches (f 1, backward 2): GPipe (every forward, then every backward)
        // and 1F1B both take (m + p - 1) 3f = 15, but GPipe holds all 4 micro-batches on device 0 and 1F1B
        // only 2 (device 0 cannot start micro-batch 0's backward before 4, so it holds at least 2), 1 on device 1.
        var problem = new PipelineProblem(pp0: 2, pp1: 1, m0: 4, m1: 0, f0: 1, f1: 1, mem0: 1, mem1: 1);
        int[] Passes(int stage, PassKind kind) => [.. problem.Tasks.Where(t => t.Stage == stage && t.Kind == kind).OrderBy(t => t.MicroBatch).Select(t => t.Index)];
        var gpipe = ScheduleDecoder.Decode(problem, [[.. Passes(0, PassKind.F), .. Passes(0, PassKind.B)], [.. Passes(1, PassKind.F), .. Passes(1, PassKind.B)]]);

        var orders = ConstraintRefiner.LowerMemory(problem, gpipe, TimeSpan.FromSeconds(10), seed: 1, deterministic: true);

        var plan = ScheduleDecoder.Decode(problem, orders!);
        (gpipe.Makespan, gpipe.PeakMemory[0]).Should().Be((15, 4));
        plan.Makespan.Should().Be(15);
        plan.PeakMemory.Should().Equal(2, 1);
        PlanValidator.Validate(plan).Should().BeEmpty();
    }
}
