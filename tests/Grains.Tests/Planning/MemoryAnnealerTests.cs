using System.Diagnostics;
using Grains.Planning;

namespace Grains.Tests.Planning;

public sealed class MemoryAnnealerTests
{
    private static (int[][] Orders, double Peak, long Moves) Lower(PipelineProblem problem, int[][] start, double makespan, int seed, long moves) =>
        new MemoryAnnealer(problem, new Random(seed)).Lower(start, makespan, Stopwatch.StartNew(), TimeSpan.FromMinutes(5), moves);

    [Fact]
    public void On_a_small_problem_it_finds_the_leanest_plan_at_the_shortest_makespan_that_exhaustive_search_finds()
    {
        // Two devices; the actor (2 micro-batches) and the critic (1) each have a stage on both. Each device
        // orders 6 passes: 180 sequences of pass kinds each, 32,400 pairs, all decoded here.
        var problem = new PipelineProblem(2, 2, 2, 1, 2, 1, 2, 1);
        var ends = new double[problem.Tasks.Count];
        var (shortest, leanest) = (double.PositiveInfinity, double.PositiveInfinity);
        var perDevice = Enumerable.Range(0, 2).Select(d => Sequences(problem.Tasks.Where(t => t.Device == d).ToArray()).ToList()).ToArray();
        foreach (var first in perDevice[0])
        {
            foreach (var second in perDevice[1])
            {
                var makespan = ScheduleDecoder.Makespan(problem, [first, second], ends);
                if (double.IsInfinity(makespan)) continue;
                var held = ScheduleDecoder.Decode(problem, [first, second]).PeakMemory.Max();
                if (makespan < shortest - 1e-9) (shortest, leanest) = (makespan, held);
                else if (makespan < shortest + 1e-9) leanest = Math.Min(leanest, held);
            }
        }
        // The list schedule reaches the shortest makespan, but not at its leanest.
        var start = FusedPlanner.Greedy(problem);
        var startPlan = ScheduleDecoder.Decode(problem, start);
        startPlan.Makespan.Should().Be(shortest);
        startPlan.PeakMemory.Max().Should().BeGreaterThan(leanest);

        var (orders, peak, _) = Lower(problem, start, shortest, seed: 3, moves: 20_000);

        var plan = ScheduleDecoder.Decode(problem, orders);
        PlanValidator.Validate(plan).Should().BeEmpty();
        plan.Makespan.Should().Be(shortest);
        plan.PeakMemory.Max().Should().Be(leanest);
        peak.Should().Be(leanest);
    }

    [Fact]
    public void On_a_published_configuration_it_lowers_the_peak_of_a_list_schedule_without_lengthening_it()
    {
        var problem = new PipelineProblem(8, 8, 8, 8, 5, 2, 1.95, 1);
        var start = FusedPlanner.Greedy(problem);
        var before = ScheduleDecoder.Decode(problem, start);

        var (orders, peak, moves) = Lower(problem, start, before.Makespan, seed: 1, moves: 100_000);

        var after = ScheduleDecoder.Decode(problem, orders);
        PlanValidator.Validate(after).Should().BeEmpty();
        moves.Should().Be(100_000);
        after.Makespan.Should().BeLessThanOrEqualTo(before.Makespan);
        after.PeakMemory.Max().Should().BeApproximately(peak, 1e-9);
        // The list schedule holds 23.60 at its peak; every device of the lowered plan holds at least a
        // micro-batch of the actor's less.
        after.PeakMemory.Should().OnlyContain(m => m <= before.PeakMemory.Max() - 1.95 + 1e-9);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void On_8_8_16_16_it_lowers_the_list_schedule_to_flexfusions_published_peak(int seed)
    {
        // FlexFusion's published plan for this configuration holds 18.55 (at 366, shorter than this
        // start's 378). Without the moves on runs of devices, seeds 2 and 3 stopped at 19.50 (300,000 moves).
        // With them, in 300,000 moves one seed of 1-6 stopped at 19.50 (seed 3 with a fifth of the moves across a
        // peak, seed 6 with 0.3); in 500,000 seeds 1-6 reached 15.60-17.55 at both shares.
        var problem = new PipelineProblem(8, 8, 16, 16, 5, 2, 1.95, 1);
        var start = FusedPlanner.Greedy(problem);
        var before = ScheduleDecoder.Decode(problem, start);

        var (orders, peak, _) = Lower(problem, start, before.Makespan, seed, moves: 500_000);

        var after = ScheduleDecoder.Decode(problem, orders);
        PlanValidator.Validate(after).Should().BeEmpty();
        before.PeakMemory.Max().Should().BeApproximately(47.20, 1e-9);
        after.Makespan.Should().BeLessThanOrEqualTo(before.Makespan);
        after.PeakMemory.Max().Should().BeApproximately(peak, 1e-9);
        peak.Should().BeLessThanOrEqualTo(18.55 + 1e-9);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void On_8_4_32_16_moves_across_a_devices_peak_lower_it_further_in_the_same_moves(int seed)
    {
        // The list schedule is at the makespan bound, 708, with 94.40. In 300,000 moves, without the moves
        // across a peak the seeds stopped at 29.30, 27.35 and 29.30; with them at 25.40, 23.45 and 23.45.
        var problem = new PipelineProblem(8, 4, 32, 16, 5, 4, 1.95, 2);
        var start = FusedPlanner.Greedy(problem);
        var before = ScheduleDecoder.Decode(problem, start);
        PeakOf(peakShare: 0.3).Should().BeLessThan(PeakOf(peakShare: 0));

        double PeakOf(double peakShare)
        {
            var (orders, peak, _) = new MemoryAnnealer(problem, new Random(seed), peakShare: peakShare)
                .Lower(start, before.Makespan, Stopwatch.StartNew(), TimeSpan.FromMinutes(5), 300_000);
            var after = ScheduleDecoder.Decode(problem, orders);
            PlanValidator.Validate(after).Should().BeEmpty();
            after.Makespan.Should().BeLessThanOrEqualTo(before.Makespan);
            after.PeakMemory.Max().Should().BeApproximately(peak, 1e-9);
            return peak;
        }
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    public void A_share_of_moves_on_runs_outside_0_to_1_is_refused(double share)
    {
        var act = () => new MemoryAnnealer(new PipelineProblem(4, 4, 4, 4, 2, 1, 1, 1), new Random(1), share);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("runShare");
    }

    [Theory]
    [InlineData(-0.1)]
    [InlineData(1.5)]
    public void A_share_of_moves_across_a_peak_outside_0_to_1_is_refused(double share)
    {
        var act = () => new MemoryAnnealer(new PipelineProblem(4, 4, 4, 4, 2, 1, 1, 1), new Random(1), peakShare: share);

        act.Should().Throw<ArgumentOutOfRangeException>().WithParameterName("peakShare");
    }

    [Fact]
    public void A_makespan_shorter_than_the_start_gives_the_start_back()
    {
        var problem = new PipelineProblem(4, 4, 4, 4, 2, 1, 1, 1);
        var start = FusedPlanner.Greedy(problem);
        var makespan = ScheduleDecoder.Decode(problem, start).Makespan;

        var (orders, _, moves) = Lower(problem, start, makespan - 1, seed: 1, moves: 1_000);

        orders.Should().BeSameAs(start);
        moves.Should().Be(0);
    }

    [Fact]
    public void Bounded_by_moves_the_same_seed_gives_the_same_orders()
    {
        var problem = new PipelineProblem(4, 2, 6, 3, 2, 1, 1, 1);
        var start = FusedPlanner.Greedy(problem);
        var makespan = ScheduleDecoder.Decode(problem, start).Makespan;

        var first = Lower(problem, start, makespan, seed: 5, moves: 5_000).Orders;
        var second = Lower(problem, start, makespan, seed: 5, moves: 5_000).Orders;

        second.Should().BeEquivalentTo(first, o => o.WithStrictOrdering());
    }

    /// <summary>Every order of a device's passes in which each kind runs its micro-batches in order.</summary>
    private static IEnumerable<int[]> Sequences(PipelineTask[] tasks)
    {
        var byKind = tasks.GroupBy(t => (t.Model, t.Kind)).Select(g => g.OrderBy(t => t.MicroBatch).Select(t => t.Index).ToArray()).ToArray();
        return Interleave(byKind, new int[byKind.Length], []);

        static IEnumerable<int[]> Interleave(int[][] queues, int[] taken, List<int> prefix)
        {
            if (taken.Select((n, q) => n == queues[q].Length).All(x => x))
            {
                yield return [.. prefix];
                yield break;
            }
            for (var q = 0; q < queues.Length; q++)
            {
                if (taken[q] == queues[q].Length) continue;
                prefix.Add(queues[q][taken[q]++]);
                foreach (var s in Interleave(queues, taken, prefix)) yield return s;
                taken[q]--;
                prefix.RemoveAt(prefix.Count - 1);
            }
        }
    }
}
