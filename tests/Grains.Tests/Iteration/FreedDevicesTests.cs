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
        freed.Note(state, Device, false, scoring.Contains);
        freed.Freed(0).IsCompleted.Should().BeFalse("worker 0 holds a sample");
        freed.Freed(2).IsCompleted.Should().BeFalse();

        state.Generated(1);
        freed.Note(state, Device, false, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeFalse("sample 2 is not dealt yet, and pull dispatch may deal it to worker 1");

        state.Dispatched(2, 0);
        scoring.Add(1);
        freed.Note(state, Device, false, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeFalse("worker 1's device still scores");

        scoring.Clear();
        freed.Note(state, Device, true, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeFalse("a generated sample waits for a device to score it");
        freed.Note(state, Device, false, scoring.Contains);
        freed.Freed(2).IsCompleted.Should().BeTrue("worker 1 is done and scores nothing");
        freed.Freed(0).IsCompleted.Should().BeFalse("worker 0 still generates two samples");
        freed.AllGenerated.IsCompleted.Should().BeFalse();

        state.Generated(0);
        state.Generated(2);
        scoring.Add(0);
        freed.Note(state, Device, false, scoring.Contains);
        freed.AllGenerated.IsCompleted.Should().BeTrue();
        freed.Freed(0).IsCompleted.Should().BeFalse("the step's last samples are scored on device 0 first: its last mini-batch waits for them");

        scoring.Clear();
        freed.Note(state, Device, true, scoring.Contains);
        freed.Freed(0).IsCompleted.Should().BeTrue("once the step is generated a device trains once it has scored what it was given, whatever waits for a device");
    }

    [Theory]
    [InlineData(10, true)]
    [InlineData(FreedDevices.ScorerFrom, false)]
    public void Once_one_worker_still_generates_the_next_device_done_is_kept_to_score_the_last_samples(int devices, bool kept)
    {
        // Sample k on worker k; worker 0 runs the longest, worker 1 the next.
        var state = new RolloutState(samples: devices, workers: devices);
        var freed = new FreedDevices(devices, generating: Enumerable.Range(0, devices));
        for (var k = 0; k < devices; k++) state.Dispatched(k, k);
        for (var k = 2; k < devices; k++) state.Generated(k);
        freed.Note(state, w => w, false, _ => false);
        Enumerable.Range(2, devices - 2).Should().OnlyContain(d => freed.Freed(d).IsCompleted, "two workers still generate");
        freed.Scorer.Should().BeNull();

        state.Generated(1);
        freed.Note(state, w => w, false, _ => false);

        freed.Freed(1).IsCompleted.Should().Be(!kept, kept ? "its device scores the last samples" : $"{devices - 1} devices done are too few to keep one from training");
        freed.Scorer.Should().Be(kept ? 1 : null);
        freed.Freed(0).IsCompleted.Should().BeFalse();

        state.Generated(0);
        freed.Note(state, w => w, false, _ => false);
        freed.Freed(1).IsCompleted.Should().BeTrue("the step is generated: the scorer trains too");
        freed.Scorer.Should().BeNull();
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
