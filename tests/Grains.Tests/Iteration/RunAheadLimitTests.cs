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
    public void Needed_drops_a_step_once_the_next_step_was_in_at_three_trainings_in_a_row()
    {
        var limit = new RunAheadLimit(4, RunAhead.Needed);
        for (var i = 0; i < 3; i++) limit.TrainingBegins(stepIn: false, nextIn: false);
        var steps = new List<int> { limit.Steps };

        // Twice ahead, then once only its own step in: no step back.
        foreach (var (stepIn, nextIn) in new[] { (true, true), (true, true), (true, false) })
        {
            limit.TrainingBegins(stepIn, nextIn);
            steps.Add(limit.Steps);
        }
        // Three in a row: one step back; three more: another; a wait in between starts the count over.
        foreach (var (stepIn, nextIn) in new[] { (true, true), (true, true), (true, true), (true, true), (true, true), (false, false), (true, true), (true, true), (true, true) })
        {
            limit.TrainingBegins(stepIn, nextIn);
            steps.Add(limit.Steps);
        }

        steps.Should().Equal(4, 4, 4, 4, 4, 4, 3, 3, 3, 4, 4, 4, 3);
    }

    [Fact]
    public void Needed_never_goes_below_one_step_ahead()
    {
        var limit = new RunAheadLimit(2, RunAhead.Needed);

        for (var i = 0; i < 10; i++) limit.TrainingBegins(stepIn: true, nextIn: true);

        limit.Steps.Should().Be(1);
    }
}
