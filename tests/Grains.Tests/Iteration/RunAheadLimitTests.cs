using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Iteration;

namespace Grains.Tests.Iteration;

public class RunAheadLimitTests
{
    [Fact]
    public void Most_runs_max_staleness_steps_ahead_whatever_the_trainer_sees()
    {
        var limit = new RunAheadLimit(4, RunAhead.Most);

        limit.TrainingBegins(stepIn: false, nextIn: false);
        limit.Steps.Should().Be(4);
        limit.TrainingBegins(stepIn: true, nextIn: true);
        limit.Steps.Should().Be(4);
    }

    [Fact]
    public void Needed_starts_one_step_ahead_and_adds_one_each_time_the_trainer_would_wait_up_to_max_staleness()
    {
        var limit = new RunAheadLimit(3, RunAhead.Needed);
        var steps = new List<int> { limit.Steps };

        for (var i = 0; i < 4; i++)
        {
            limit.TrainingBegins(stepIn: false, nextIn: false);
            steps.Add(limit.Steps);
        }

        steps.Should().Equal(1, 2, 3, 3, 3);
    }

    [Fact]
    public void Needed_drops_a_step_when_the_next_one_was_in_too_and_keeps_it_when_only_its_own_was()
    {
        var limit = new RunAheadLimit(4, RunAhead.Needed);
        for (var i = 0; i < 3; i++) limit.TrainingBegins(stepIn: false, nextIn: false);
        var steps = new List<int> { limit.Steps };

        limit.TrainingBegins(stepIn: true, nextIn: false);
        steps.Add(limit.Steps);
        foreach (var _ in Enumerable.Range(0, 4))
        {
            limit.TrainingBegins(stepIn: true, nextIn: true);
            steps.Add(limit.Steps);
        }

        steps.Should().Equal(4, 4, 3, 2, 1, 1);
    }
}
