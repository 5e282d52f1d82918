using Grains.Iteration.Policies;
using static Grains.Iteration.Policies.ContextBalance;

namespace Grains.Tests.Iteration;

public sealed class ContextBalanceTests
{
    [Fact]
    public void The_heaviest_worker_gives_the_lightest_the_sample_that_evens_them_until_no_move_lowers_the_heaviest()
    {
        // Worker 0 holds 40 + 40 + 10, worker 1 holds 10, worker 2 nothing (mean 33.3, least gain 1.67).
        // 1: 0 (90) to 2 (0): the gap is 90, and a 40 (|80 - 90| = 10) evens them better than the 10: 50 / 40.
        // 2: 0 (50) to 1 (10): gap 40, the 10 (|20 - 40| = 20) beats the other 40 (|80 - 40|): 40 / 20.
        // 3: 0 (40) to 1 (20): its one 40 would leave 1 at 60, above the 40 it lowers: stop.
        Held[] samples = [new(0, 40), new(0, 40), new(0, 10), new(1, 10)];

        var moves = Plan(samples, [0, 1, 2]);

        moves.Should().Equal(new Move(0, 2), new Move(2, 1));
    }

    [Fact]
    public void A_worker_with_one_long_sample_keeps_it_and_samples_of_workers_not_listed_stay()
    {
        Plan([new(0, 32_000)], [0, 1, 2]).Should().BeEmpty("moving it only makes another worker the heaviest");
        // Worker 7 is not live: its 500 is neither counted nor moved; 0 and 1 even out with one move of the 30.
        Plan([new(0, 30), new(0, 20), new(0, 10), new(7, 500)], [0, 1]).Should().Equal(new Move(0, 1));
    }

    [Fact]
    public void Gains_below_the_least_share_of_the_mean_move_nothing()
    {
        // Mean 110; the one move lowers the heaviest from 120 to 110 (the 10 to worker 1): 9 % of the mean.
        Held[] samples = [new(0, 110), new(0, 10), new(1, 100)];
        Plan(samples, [0, 1], least: 0.05).Should().Equal(new Move(1, 1));
        Plan(samples, [0, 1], least: 0.10).Should().BeEmpty();
        Plan(samples, [0]).Should().BeEmpty("one worker has no other to give to");
    }

    [Fact]
    public void Bad_input_is_refused()
    {
        FluentActions.Invoking(() => Plan([new(0, -1)], [0, 1])).Should().Throw<ArgumentException>().WithMessage("sample 0 holds a negative context (-1)*");
        FluentActions.Invoking(() => Plan([], [0, 1], least: -0.1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("a share of the mean, 0 or more*");
    }
}
