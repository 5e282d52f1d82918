using FluentAssertions;
using Grains.Iteration;
using Grains.Iteration.Policies;

namespace Grains.Tests.Iteration;

public class FreedDevicesTests
{
    [Fact]
    public void A_device_is_freed_once_every_sample_is_dealt_and_its_worker_and_its_scoring_are_done()
    {
        // Three devices; the step's workers are on devices 0 and 2 (numbered 0 and 1 in the step), device 1 has none.
        var state = new RolloutState(samples: 3, workers: 2);
        var freed = new FreedDevices(3, generating: [0, 2]);
        int Device(int w) => w == 0 ? 0 : 2;
        var scoring = new HashSet<int>();

        freed.Freed(1).IsCompleted.Should().BeTrue("device 1 has nothing of the step to generate");
        state.Dispatched(0, 0);
        state.Dispatched(1, 1);
        freed.Note(state, Device, scoring.Contains);
        freed.Freed(0).IsCompleted.Should().BeFalse("worker 0 holds a sample");
        freed.Freed(2).IsCompleted.Should().BeFalse();

        state.Generated(1);
        freed.Note(state, Device, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeFalse("sample 2 is not dealt yet, and pull dispatch may deal it to worker 1");

        state.Dispatched(2, 0);
        scoring.Add(1);
        freed.Note(state, Device, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeFalse("worker 1's device still scores");

        scoring.Clear();
        freed.Note(state, Device, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeTrue("worker 1 is done and scores nothing");
        freed.Freed(0).IsCompleted.Should().BeFalse("worker 0 still generates two samples");
        freed.AllGenerated.IsCompleted.Should().BeFalse();

        state.Generated(0);
        state.Generated(2);
        scoring.Add(0);
        freed.Note(state, Device, scoring.Contains);
        freed.AllGenerated.IsCompleted.Should().BeTrue();
        freed.Freed(0).IsCompleted.Should().BeTrue("once the step is generated every device may train, whatever it scores");
    }

    [Fact]
    public void A_rollout_that_ends_releases_every_device_and_a_device_the_job_lacks_is_free()
    {
        var freed = new FreedDevices(2, generating: [0, 1]);

        freed.Freed(5).IsCompleted.Should().BeTrue();
        freed.Freed(0).IsCompleted.Should().BeFalse();
        freed.Release();
        freed.Freed(0).IsCompleted.Should().BeTrue();
        freed.Freed(1).IsCompleted.Should().BeTrue();
        freed.AllGenerated.IsCompleted.Should().BeTrue();
    }
}
