using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Iteration;

namespace Grains.Tests.Iteration;

public class RunAheadLimitTests
{
    [Fact]
    public void Most_runs_max_staleness_steps_ahead_whatever_the_trainer_waits()
    {
        var limit = new RunAheadLimit(4, RunAhead.Most);

        limit.Trained(waited: 5, period: 10);
        limit.Steps.Should().Be(4);
        for (var i = 0; i < 5; i++) limit.Trained(waited: -20, period: 10);
        limit.Steps.Should().Be(4);
    }

    [Fact]
    public void Needed_starts_one_step_ahead_and_adds_one_each_time_the_trainer_waited_up_to_max_staleness()
    {
        var limit = new RunAheadLimit(3, RunAhead.Needed);
        var steps = new List<int> { limit.Steps };

        // A wait within 5 % of the period is the trainer's own scheduling; past it, generation is behind.
        foreach (var waited in new[] { 0.4, 0.6, 3.0, 2.0, 9.0 })
        {
            limit.Trained(waited, period: 10);
            steps.Add(limit.Steps);
        }

        steps.Should().Equal(1, 1, 2, 3, 3, 3);
    }

    [Fact]
    public void Needed_drops_a_step_once_samples_were_in_more_than_a_period_early_at_more_steps_in_a_row_than_a_wave()
    {
        var limit = new RunAheadLimit(2, RunAhead.Needed);
        limit.Patience.Should().Be(4, "up to 3 steps generated together come in together");
        new RunAheadLimit(4, RunAhead.Needed).Patience.Should().Be(6);
        limit.Trained(waited: 5, period: 10);
        var steps = new List<int> { limit.Steps };

        // Early by more than a period three times, then by less than one: no step back.
        foreach (var waited in new[] { -12.0, -15.0, -25.0, -8.0 })
        {
            limit.Trained(waited, period: 10);
            steps.Add(limit.Steps);
        }
        // Four in a row: one step back; then a wait: one step further, and the count starts over.
        foreach (var waited in new[] { -11.0, -11.0, -11.0, -11.0, 1.0, -11.0, -11.0, -11.0, -11.0 })
        {
            limit.Trained(waited, period: 10);
            steps.Add(limit.Steps);
        }

        steps.Should().Equal(2, 2, 2, 2, 2, 2, 2, 2, 1, 2, 2, 2, 2, 1);
    }

    [Fact]
    public void Needed_never_goes_below_one_step_ahead()
    {
        var limit = new RunAheadLimit(2, RunAhead.Needed);

        for (var i = 0; i < 10; i++) limit.Trained(waited: -50, period: 10);

        limit.Steps.Should().Be(1);
    }
}
