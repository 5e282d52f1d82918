using FluentAssertions;
using Grains.Iteration.Policies;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>A tail-batching round as a plain stage policy: which samples it keeps, when it ends, what it discards.</summary>
public sealed class TailBatchRoundTests
{
    // Three prompts of three responses each (samples 0-2, 3-5, 6-8); the round keeps two groups of two.
    private static readonly int[] GroupOf = [0, 0, 0, 1, 1, 1, 2, 2, 2];

    [Fact]
    public void Streaming_keeps_each_groups_first_responses_and_ends_when_enough_groups_are_whole()
    {
        var state = Dispatched(new RolloutState(9, 1));
        var round = new TailBatchRound(GroupOf, groups: 2, keep: 2, streaming: true);

        Generate(state, round, 0).Should().Equal(new ScoreSample(0));
        Generate(state, round, 3).Should().Equal(new ScoreSample(3));
        Generate(state, round, 1).Should().Equal(new ScoreSample(1));
        Generate(state, round, 2).Should().BeEmpty("group 0 already has its two responses: a third is not scored");
        Score(state, round, 0).Should().BeEmpty("the round has not ended");
        round.Ended.Should().BeFalse();

        var end = Generate(state, round, 4);
        end.Should().HaveCount(2);
        end[0].Should().Be(new ScoreSample(4));
        end[1].Should().BeOfType<EndRound>().Which.Discard.Should().Equal(2, 5, 6, 7, 8);
        round.Kept.Should().Equal(0, 1, 3, 4);

        Generate(state, round, 6).Should().BeEmpty("the round is over");
        Score(state, round, 1).Should().BeEmpty();
        Score(state, round, 3).Should().BeEmpty();
        Score(state, round, 4).Should().Equal(new StartTraining());
    }

    [Fact]
    public void Under_a_barrier_the_kept_samples_are_scored_only_at_the_rounds_end()
    {
        var state = Dispatched(new RolloutState(9, 1));
        var round = new TailBatchRound(GroupOf, groups: 2, keep: 2, streaming: false);

        foreach (var k in new[] { 6, 0, 3, 7 }) Generate(state, round, k).Should().BeEmpty();
        var end = Generate(state, round, 1);

        end[0].Should().BeOfType<EndRound>().Which.Discard.Should().Equal(2, 3, 4, 5, 8);
        end.Skip(1).Should().Equal(new ScoreSample(0), new ScoreSample(1), new ScoreSample(6), new ScoreSample(7));
        foreach (var k in new[] { 0, 1, 6 }) Score(state, round, k).Should().BeEmpty();
        Score(state, round, 7).Should().Equal(new StartTraining());
    }

    [Fact]
    public void A_long_round_keeps_every_sample_and_ends_with_the_last_discarding_none()
    {
        var state = Dispatched(new RolloutState(4, 2));
        var round = new TailBatchRound([0, 0, 1, 1], groups: 2, keep: 2, streaming: true);

        foreach (var k in new[] { 3, 0, 2 }) Generate(state, round, k).Should().Equal(new ScoreSample(k));
        foreach (var k in new[] { 3, 0, 2 }) Score(state, round, k).Should().BeEmpty();
        var end = Generate(state, round, 1);

        end[1].Should().BeOfType<EndRound>().Which.Discard.Should().BeEmpty();
        round.Kept.Should().Equal(0, 1, 2, 3);
        Score(state, round, 1).Should().Equal(new StartTraining());
    }

    [Fact]
    public void A_discarded_sample_leaves_its_workers_load_and_a_late_report_of_it_is_ignored()
    {
        var state = Dispatched(new RolloutState(3, 2));

        state.Discarded(1);

        state.Load(1).Should().Be(0);
        state.Generated(1).Should().BeFalse("its round ended without it");
        state.GeneratedCount.Should().Be(0);
        var move = () => state.Moved(1, 0);
        move.Should().Throw<InvalidOperationException>();
    }

    /// <summary>Sample k on worker k mod workers.</summary>
    private static RolloutState Dispatched(RolloutState state)
    {
        for (var k = 0; k < state.Samples; k++) state.Dispatched(k, k % state.Workers);
        return state;
    }

    private static IReadOnlyList<RolloutAction> Generate(RolloutState state, TailBatchRound round, int k)
    {
        state.Generated(k).Should().BeTrue();
        return round.Generated(state, k);
    }

    private static IReadOnlyList<RolloutAction> Score(RolloutState state, TailBatchRound round, int k)
    {
        state.Scored(k).Should().BeTrue();
        return round.Scored(state, k);
    }
}
