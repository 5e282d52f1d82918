using System.Diagnostics;
using Grains.Planning;

namespace Grains.Tests.Planning;

public sealed class StageLimitSearchTests
{
    /// <summary>The most micro-batches each stage of the orders holds at once, by (model, replica, stage).</summary>
    private static Dictionary<(PipelineModel, int, int), int> MostHeld(PipelineProblem problem, int[][] orders)
    {
        var most = new Dictionary<(PipelineModel, int, int), int>();
        foreach (var order in orders)
        {
            var held = new Dictionary<(PipelineModel, int, int), int>();
            foreach (var t in order.Select(i => problem.Tasks[i]))
            {
                var key = (t.Model, t.Replica, t.Stage);
                held[key] = held.GetValueOrDefault(key) + (t.Kind == PassKind.F ? 1 : -1);
                most[key] = Math.Max(most.GetValueOrDefault(key), held[key]);
            }
        }
        return most;
    }

    [Fact]
    public void One_model_under_1F1Bs_limits_is_1F1B_in_the_textbook_time_and_memory()
    {
        // The actor alone: 4 stages, 8 micro-batches, forward 1, backward 2: 1F1B takes 3 (m + p - 1) = 33 and
        // stage s holds 4 - s micro-batches of 1.5.
        var problem = new PipelineProblem(pp0: 4, pp1: 1, m0: 8, m1: 0, f0: 1, f1: 1, mem0: 1.5, mem1: 1);
        var search = new StageLimitSearch(problem, new Random(1));

        var (orders, makespan, peak) = search.Schedule(search.OneFOneB(), GreedyRule.LongestTail);

        makespan.Should().Be(33);
        peak.Should().Be(6);
        var plan = ScheduleDecoder.Decode(problem, orders);
        plan.Makespan.Should().Be(33, "the search's own timing is the decoder's");
        plan.PeakMemory.Should().Equal(6, 4.5, 3, 1.5);
        PlanValidator.Validate(plan).Should().BeEmpty();
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(5)]
    public void Every_stage_keeps_to_its_limit_and_the_orders_never_deadlock(int limit)
    {
        var problem = new PipelineProblem(8, 4, 16, 8, 5, 4, 1.95, 2);
        var search = new StageLimitSearch(problem, new Random(1));
        var limits = search.OneFOneB().Select(l => Math.Min(l, limit)).ToArray();

        foreach (var rule in new[] { GreedyRule.LongestTail, GreedyRule.BackwardFirst, GreedyRule.ActorFirst })
        {
            var (orders, makespan, peak) = search.Schedule(limits, rule);

            var plan = ScheduleDecoder.Decode(problem, orders);
            PlanValidator.Validate(plan).Should().BeEmpty();
            plan.Makespan.Should().Be(makespan);
            plan.PeakMemory.Max().Should().BeApproximately(peak, 1e-9);
            MostHeld(problem, orders).Values.Should().OnlyContain(held => held <= limit, $"{rule}");
            // A device holds at most its two stages' limits: the actor's and the critic's.
            peak.Should().BeLessThanOrEqualTo(limit * (1.95 + 2) + 1e-9);
        }
    }

    [Fact]
    public void Under_a_gate_a_forward_past_1F1Bs_number_starts_only_within_it()
    {
        // 8/8/32/32 with no stage limit: the list schedule holds 11 actor micro-batches on device 0 and more.
        var problem = new PipelineProblem(8, 8, 32, 32, 5, 2, 1.95, 1);
        var search = new StageLimitSearch(problem, new Random(1));
        var unlimited = problem.Tasks.GroupBy(t => (t.Model, t.Replica, t.Stage)).Select(_ => 32).ToArray();
        // 1F1B holds pp - s micro-batches on stage s.
        int OneFOneB(PipelineTask t) => 8 - t.Stage;

        foreach (var rule in new[] { GreedyRule.LongestTail, GreedyRule.BackwardFirst, GreedyRule.ActorFirst })
        {
            var open = search.Schedule(unlimited, rule);
            var gated = search.Schedule(unlimited, rule, gate: 20.5);

            open.Peak.Should().BeGreaterThan(20.5, $"{rule}: without a gate");
            PlanValidator.Validate(ScheduleDecoder.Decode(problem, gated.Orders)).Should().BeEmpty();
            foreach (var order in gated.Orders)
            {
                var (device, stage) = (0.0, new Dictionary<(PipelineModel, int), int>());
                foreach (var t in order.Select(i => problem.Tasks[i]))
                {
                    var key = (t.Model, t.Stage);
                    var inFlight = stage.GetValueOrDefault(key);
                    if (t.Kind == PassKind.F && inFlight >= OneFOneB(t)) (device + t.Memory).Should().BeLessThanOrEqualTo(20.5 + 1e-9, $"{rule}: {t} past 1F1B's number");
                    stage[key] = inFlight + (t.Kind == PassKind.F ? 1 : -1);
                    device += t.Kind == PassKind.F ? t.Memory : -t.Memory;
                }
            }
            // A gate below any micro-batch leaves 1F1B's numbers alone: no plan deadlocks.
            var starved = search.Schedule(unlimited, rule, gate: 0.5);
            PlanValidator.Validate(ScheduleDecoder.Decode(problem, starved.Orders)).Should().BeEmpty();
            MostHeld(problem, starved.Orders).Should().Equal(MostHeld(problem, search.Schedule(search.OneFOneB(), rule).Orders), $"{rule}: 1F1B's limits, no more");
        }
    }

    [Fact]
    public void The_leanest_plan_keeps_the_makespan_asked_for_and_is_leaner_than_where_it_started()
    {
        // 8 actor stages, 8 critic stages over 32 micro-batches each (a configuration of the published study):
        // the unlimited list schedule is short and heavy; the search keeps its makespan and sheds memory.
        var problem = new PipelineProblem(8, 8, 32, 32, 5, 2, 1.95, 1);
        var search = new StageLimitSearch(problem, new Random(3));
        var unlimited = problem.Tasks.GroupBy(t => (t.Model, t.Replica, t.Stage)).Select(_ => 32).ToArray();
        var heavy = new[] { GreedyRule.LongestTail, GreedyRule.BackwardFirst, GreedyRule.ActorFirst }
            .Select(rule => search.Schedule(unlimited, rule)).MinBy(p => p.Makespan);

        var leanest = search.Leanest(heavy.Makespan, Stopwatch.StartNew(), TimeSpan.FromMinutes(5), maxMoves: 2_000);

        leanest.Should().NotBeNull();
        var plan = ScheduleDecoder.Decode(problem, leanest!.Value.Orders);
        PlanValidator.Validate(plan).Should().BeEmpty();
        plan.Makespan.Should().BeLessThanOrEqualTo(heavy.Makespan);
        plan.PeakMemory.Max().Should().BeApproximately(leanest.Value.Peak, 1e-9);
        leanest.Value.Peak.Should().BeLessThan(heavy.Peak);
    }

    [Fact]
    public void Asked_for_a_makespan_it_does_not_reach_it_gives_its_shortest_plan_within_the_cap()
    {
        // 8/8/32/32 under FlexFusion's peak, 20.5, asked for the makespan bound (702): no list schedule here
        // reaches it, so the answer is the shortest found, no longer than where the search started.
        var problem = new PipelineProblem(8, 8, 32, 32, 5, 2, 1.95, 1, memoryCap: 20.5);
        var search = new StageLimitSearch(problem, new Random(2));
        var started = new[] { GreedyRule.LongestTail, GreedyRule.BackwardFirst, GreedyRule.ActorFirst }
            .Select(rule => search.Schedule(search.OneFOneB(), rule, gate: 20.5)).Where(p => p.Peak <= 20.5 + 1e-9).Min(p => p.Makespan);

        var shortest = search.Leanest(702, Stopwatch.StartNew(), TimeSpan.FromMinutes(5), maxMoves: 500);

        shortest.Should().NotBeNull();
        shortest!.Value.Makespan.Should().BeGreaterThan(702).And.BeLessThanOrEqualTo(started);
        shortest.Value.Peak.Should().BeLessThanOrEqualTo(20.5 + 1e-9);
        var plan = ScheduleDecoder.Decode(problem, shortest.Value.Orders);
        PlanValidator.Validate(plan).Should().BeEmpty();
        plan.Makespan.Should().Be(shortest.Value.Makespan);
    }

    [Fact]
    public void Under_a_memory_cap_the_leanest_plan_keeps_to_it()
    {
        var problem = new PipelineProblem(8, 4, 16, 8, 5, 4, 1.95, 2, memoryCap: 18);
        var search = new StageLimitSearch(problem, new Random(5));

        var leanest = search.Leanest(double.MaxValue, Stopwatch.StartNew(), TimeSpan.FromMinutes(5), maxMoves: 500);

        leanest.Should().NotBeNull();
        leanest!.Value.Peak.Should().BeLessThanOrEqualTo(18);
        PlanValidator.Validate(ScheduleDecoder.Decode(problem, leanest.Value.Orders)).Should().BeEmpty();
    }
}
