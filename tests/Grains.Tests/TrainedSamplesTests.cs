using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Jobs;

namespace Grains.Tests;

/// <summary>The job grain's hold of the latest trained records.</summary>
public sealed class TrainedSamplesTests
{
    private static SampleRecord Trained(int iteration, int index, float advantage = 1f) => SampleRecord.New with
    {
        Stage = SampleStage.Trained,
        Start = new SampleStart("job", iteration, index, "p", 0, [1, 2], "a", 4, 4, 1.0, new ScoringModels(RlTask.Arithmetic, null, "ref", null, "demo", 1.0, 64), Run: 1),
        Advantages = [advantage],
    };

    [Fact]
    public void The_oldest_records_are_let_go_first_once_the_capacity_is_reached()
    {
        var held = new TrainedSamples(capacity: 5);

        held.Add([Trained(1, 0), Trained(1, 1), Trained(1, 2)]);
        held.Add([Trained(2, 0), Trained(2, 1), Trained(2, 2)]);

        held.Count.Should().Be(5);
        held.Find(SampleKeys.Of("job", 1, 0)).Should().BeNull("the first step's first record went first");
        held.Find(SampleKeys.Of("job", 1, 1))!.Start!.Index.Should().Be(1);
        held.Find(SampleKeys.Of("job", 2, 2))!.Stage.Should().Be(SampleStage.Trained);
    }

    [Fact]
    public void A_step_trained_again_replaces_its_records_without_counting_them_twice()
    {
        var held = new TrainedSamples(capacity: 3);

        held.Add([Trained(1, 0, advantage: 1f), Trained(1, 1)]);
        held.Add([Trained(1, 0, advantage: 2f)]);
        held.Add([Trained(2, 0)]);

        held.Count.Should().Be(3);
        held.Find(SampleKeys.Of("job", 1, 0))!.Advantages.Should().Equal(2f);
    }

    [Fact]
    public void A_capacity_below_one_is_refused()
    {
        var make = () => new TrainedSamples(0);

        make.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at least one record*");
    }
}
