using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>The rollout policies as plain classes: events in, actions out, no cluster.</summary>
public sealed class RolloutPolicyTests
{
    [Fact]
    public void Round_robin_deals_sample_k_to_worker_k_mod_workers_at_the_start()
    {
        var state = new RolloutState(samples: 7, workers: 3);
        var dispatch = new RoundRobinDispatch();

        dispatch.Start(state).Select(d => (d.Sample, d.Worker)).Should().Equal((0, 0), (3, 0), (6, 0), (1, 1), (4, 1), (2, 2), (5, 2));
        Dispatch(state, dispatch.Start(state));
        state.Generated(4);
        dispatch.Generated(state, 4, 1).Should().BeEmpty("round-robin dispatches everything at once");
    }

    [Fact]
    public void Pull_fills_each_worker_then_hands_the_next_sample_to_the_worker_that_freed_a_slot()
    {
        var state = new RolloutState(samples: 7, workers: 2);
        var dispatch = new PullDispatch(slots: 2);

        var first = dispatch.Start(state);
        first.Select(d => (d.Sample, d.Worker)).Should().Equal((0, 0), (1, 1), (2, 0), (3, 1));
        Dispatch(state, first);
        state.Load(0).Should().Be(2);

        state.Generated(1).Should().BeTrue();
        Dispatch(state, dispatch.Generated(state, 1, 1)).Should().Equal(new DispatchTo(4, 1));
        state.Generated(3);
        Dispatch(state, dispatch.Generated(state, 3, 1)).Should().Equal(new DispatchTo(5, 1));
        state.Generated(0);
        Dispatch(state, dispatch.Generated(state, 0, 0)).Should().Equal(new DispatchTo(6, 0));
        state.Generated(4);
        dispatch.Generated(state, 4, 1).Should().BeEmpty("every sample is dispatched");
        (state.Load(0), state.Load(1)).Should().Be((2, 1), "worker 1 ran short samples and took more of them");
    }

    [Fact]
    public void Pull_passes_over_a_worker_behind_on_an_older_step_until_it_catches_up()
    {
        var state = new RolloutState(samples: 7, workers: 3);
        state.SetBehind(1, true);
        var dispatch = new PullDispatch(slots: 2);

        var first = Dispatch(state, dispatch.Start(state));
        first.Select(d => (d.Sample, d.Worker)).Should().Equal((0, 0), (1, 2), (2, 0), (3, 2));
        state.Generated(0);
        Dispatch(state, dispatch.Generated(state, 0, 0)).Should().Equal(new DispatchTo(4, 0));

        // Worker 1's older samples are done: it takes its two slots of what is left.
        state.SetBehind(1, false);
        Dispatch(state, dispatch.CaughtUp(state, 1)).Should().Equal(new DispatchTo(5, 1), new DispatchTo(6, 1));
        dispatch.CaughtUp(state, 1).Should().BeEmpty("every sample is dispatched");
        new RoundRobinDispatch().CaughtUp(state, 1).Should().BeEmpty("round-robin dispatched everything at the start");
    }

    [Fact]
    public void Skew_aware_dispatch_gives_the_long_tail_worker_the_forecast_longest_then_deals_the_rest_longest_first()
    {
        // Forecast order 5, 2, 7, 0, 1, 3, 4, 6 (longest first); worker 0 is the long-tail worker, batches of 2;
        // workers 1 and 2 are regular, 2 slots each.
        var state = new RolloutState(samples: 8, workers: 3);
        var dispatch = new SkewAwareDispatch([5, 2, 7, 0, 1, 3, 4, 6], longWorkers: 1, longBatch: 2, regularSlots: 2);

        Dispatch(state, dispatch.Start(state)).Select(d => (d.Sample, d.Worker)).Should().Equal((5, 0), (2, 0), (7, 1), (0, 2), (1, 1), (3, 2));
        state.Generated(0);
        Dispatch(state, dispatch.Generated(state, 0, 2)).Should().Equal(new DispatchTo(4, 2));
        state.Generated(2);
        Dispatch(state, dispatch.Generated(state, 2, 0)).Should().Equal(new[] { new DispatchTo(6, 0) }, "the long-tail worker keeps its small batch full, next in order");
        state.Generated(7);
        dispatch.Generated(state, 7, 1).Should().BeEmpty("every sample is dispatched");
    }

    [Fact]
    public void Skew_aware_dispatch_refuses_an_order_that_is_not_the_steps_samples()
    {
        var state = new RolloutState(samples: 3, workers: 2);
        var act = () => new SkewAwareDispatch([0, 1, 1], 1, 1, 1).Start(state);
        act.Should().Throw<ArgumentException>().WithMessage("*each of the step's 3 samples once*");
    }

    [Fact]
    public void Pull_with_every_worker_behind_dispatches_nothing_until_one_catches_up()
    {
        var state = new RolloutState(samples: 3, workers: 2);
        state.SetBehind(0, true);
        state.SetBehind(1, true);
        var dispatch = new PullDispatch(slots: 2);

        dispatch.Start(state).Should().BeEmpty();
        state.SetBehind(1, false);
        Dispatch(state, dispatch.CaughtUp(state, 1)).Should().Equal(new DispatchTo(0, 1), new DispatchTo(1, 1));
    }

    [Fact]
    public void Barrier_scores_nothing_before_the_last_sample_is_generated_then_everything()
    {
        var state = Started(3);
        var barrier = new BarrierPolicy();

        state.Generated(2);
        barrier.Generated(state, 2).Should().BeEmpty();
        state.Generated(0);
        barrier.Generated(state, 0).Should().BeEmpty();
        state.Generated(1);
        barrier.Generated(state, 1).Should().Equal(new ScoreSample(0), new ScoreSample(1), new ScoreSample(2));
        ScoreAll(state, barrier, 0, 1).Should().BeEmpty();
        ScoreAll(state, barrier, 2).Should().Equal(new StartTraining());
    }

    [Fact]
    public void Streaming_scores_each_sample_as_it_is_generated_and_trains_after_the_last_score()
    {
        var state = Started(3);
        var streaming = new StreamingPolicy();

        state.Generated(1);
        streaming.Generated(state, 1).Should().Equal(new ScoreSample(1));
        ScoreAll(state, streaming, 1).Should().BeEmpty("two samples are still out");
        state.Generated(0);
        state.Generated(2);
        streaming.Generated(state, 2).Should().Equal(new ScoreSample(2));
        ScoreAll(state, streaming, 2, 0).Should().Equal(new StartTraining());
    }

    [Fact]
    public void The_state_refuses_events_out_of_order_and_ignores_repeats()
    {
        var state = new RolloutState(samples: 2, workers: 1);
        FluentActions.Invoking(() => state.Generated(0)).Should().Throw<InvalidOperationException>().WithMessage("*never dispatched*");
        state.Dispatched(0, 0);
        FluentActions.Invoking(() => state.Dispatched(0, 0)).Should().Throw<InvalidOperationException>().WithMessage("*already on worker 0*");
        FluentActions.Invoking(() => state.Scored(0)).Should().Throw<InvalidOperationException>().WithMessage("*before it was generated*");
        state.Generated(0).Should().BeTrue();
        state.Generated(0).Should().BeFalse("a repeated report counts once");
        state.GeneratedCount.Should().Be(1);
        FluentActions.Invoking(() => new RolloutState(0, 1)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void A_jobs_settings_choose_its_policies()
    {
        RolloutPolicies.Stage(StagePolicy.Barrier).Should().BeOfType<BarrierPolicy>();
        RolloutPolicies.Stage(StagePolicy.Streaming).Should().BeOfType<StreamingPolicy>();
        RolloutPolicies.Dispatch(new RlSpec(), [0, 0], SkewSplit.None, 2).Should().BeOfType<RoundRobinDispatch>();
        RolloutPolicies.Dispatch(new RlSpec { Dispatch = DispatchPolicy.Pull }, [0, 0], SkewSplit.None, 2).Should().BeOfType<PullDispatch>();
        RolloutPolicies.Dispatch(new RlSpec { Dispatch = DispatchPolicy.SkewAware }, [0, 0], SkewSplit.None, 2).Should().BeOfType<SkewAwareDispatch>();
    }

    [Fact]
    public void Pull_dispatch_shares_a_step_over_the_workers_it_is_dealt_to_not_the_files_count()
    {
        // The file gives 10 workers; the job runs with 4 (its pools sized or divided so): 25 each, all 100 dealt at once.
        var rl = new RlSpec { Dispatch = DispatchPolicy.Pull, GenerationWorkers = 10, MaxBatch = 256 };

        var first = RolloutPolicies.Dispatch(rl, new double[100], SkewSplit.None, workers: 4).Start(new RolloutState(100, 4));

        first.Should().HaveCount(100);
        first.GroupBy(d => d.Worker).Select(g => g.Count()).Should().AllBeEquivalentTo(25);
        RolloutPolicies.Dispatch(rl, new double[100], SkewSplit.None, workers: 10).Start(new RolloutState(100, 4)).Should().HaveCount(40, "a share of 10 on each of 4");
    }

    [Fact]
    public void Tail_migration_gathers_once_when_the_remaining_share_is_reached_on_the_workers_holding_most_of_it()
    {
        // 20 samples round-robin over 4 workers: worker w holds w, w + 4, ... (5 each).
        var state = new RolloutState(samples: 20, workers: 4);
        Dispatch(state, new RoundRobinDispatch().Start(state));
        var migration = new TailMigration(remaining: 0.25, workers: 1);

        // The quarter is 5 samples left: nothing while 6 or more are.
        int[] order = [0, 4, 8, 12, 16, 1, 5, 9, 13, 2, 6, 10, 3, 7];
        foreach (var k in order)
        {
            state.Generated(k);
            migration.Generated(state).Should().BeEmpty($"{20 - state.GeneratedCount} left is more than a quarter of 20");
        }
        // Left 11, 14, 15, 17, 18, 19: worker 1 holds 17; worker 2 14 and 18; worker 3 11, 15 and 19.
        state.Generated(17);
        // 5 left: gathered on worker 3, which holds most of them.
        migration.Generated(state).Should().ContainSingle().Which.Should().BeOfType<GatherTail>().Which.Workers.Should().Equal(3);
        state.Generated(14);
        migration.Generated(state).Should().BeEmpty("a step's tail is gathered once");
    }

    [Fact]
    public void Long_tail_instances_that_take_tails_are_dealt_nothing_and_the_tail_is_gathered_onto_them()
    {
        // Worker 0 is a long-tail instance (no slots); workers 1 and 2 take the 6 samples, 3 each, longest forecast first.
        var state = new RolloutState(samples: 6, workers: 3);
        var dispatch = new SkewAwareDispatch([5, 2, 0, 1, 3, 4], longWorkers: 1, longBatch: 0, regularSlots: 3);
        var migration = new TailMigration(remaining: 0.5, workers: 1, targets: [0]);

        Dispatch(state, dispatch.Start(state)).Select(d => (d.Sample, d.Worker)).Should().Equal((5, 1), (2, 2), (0, 1), (1, 2), (3, 1), (4, 2));
        state.Load(0).Should().Be(0);
        dispatch.CaughtUp(state, 0).Should().BeEmpty("it has no slots to fill");
        state.Generated(5);
        migration.Generated(state).Should().BeEmpty("5 of 6 left");
        state.Generated(2);
        state.Generated(0);
        // Half left (1, 3, 4), none on worker 0: gathered there all the same.
        migration.Generated(state).Should().ContainSingle().Which.Should().BeOfType<GatherTail>().Which.Workers.Should().Equal(0);
    }

    [Fact]
    public void Tail_migration_moves_nothing_when_the_tail_is_already_on_as_few_workers()
    {
        var state = new RolloutState(samples: 4, workers: 4);
        Dispatch(state, new RoundRobinDispatch().Start(state));
        var migration = new TailMigration(remaining: 0.5, workers: 2);

        state.Generated(0);
        state.Generated(1);

        migration.Generated(state).Should().BeEmpty("the two samples left are on two workers already");
    }

    [Fact]
    public void Colocated_scoring_goes_to_devices_whose_worker_is_done_in_turn_and_waits_while_every_one_generates()
    {
        // Samples 0-1 on worker 0, 2 on worker 1, 3 on worker 2; worker 1 done.
        var state = new RolloutState(samples: 4, workers: 3);
        foreach (var (k, w) in new[] { (0, 0), (1, 0), (2, 1), (3, 2) }) state.Dispatched(k, w);
        var scoring = new FreeDeviceScoring(most: 2);
        scoring.Next(state, _ => true).Should().BeNull("every worker has samples left to generate");
        state.Generated(2);

        scoring.Next(state, _ => true).Should().Be(1);
        scoring.Next(state, _ => true).Should().Be(1, "the only free device, with room for two");
        scoring.Next(state, _ => true).Should().BeNull("its two are being scored");
        scoring.Scored(1);
        scoring.Next(state, _ => true).Should().Be(1, "one of its two is done");
        state.Generated(3);
        scoring.Next(state, _ => true).Should().Be(2, "from where it left off");
        scoring.Next(state, w => w != 2).Should().BeNull("worker 0 still generates, 1 is full and 2 is not usable (lost)");
    }

    private static RolloutState Started(int samples)
    {
        var state = new RolloutState(samples, workers: 1);
        for (var k = 0; k < samples; k++) state.Dispatched(k, 0);
        return state;
    }

    private static IReadOnlyList<DispatchTo> Dispatch(RolloutState state, IReadOnlyList<DispatchTo> actions)
    {
        foreach (var d in actions) state.Dispatched(d.Sample, d.Worker);
        return actions;
    }

    private static List<RolloutAction> ScoreAll(RolloutState state, IStagePolicy policy, params int[] samples)
    {
        var actions = new List<RolloutAction>();
        foreach (var k in samples)
        {
            state.Scored(k);
            actions.AddRange(policy.Scored(state, k));
        }
        return actions;
    }
}
