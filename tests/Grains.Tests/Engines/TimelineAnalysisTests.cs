using Grains.Engines;
using Grains.Interfaces.Rl;

namespace Grains.Tests.Engines;

public sealed class TimelineAnalysisTests
{
    // Over [0, 10]: g0 busy 0-4, g1 busy 2-6 and 8-12 (clipped to 8-10), s0 busy 5-7; nothing runs in 7-8.
    private static readonly DeviceTimeline[] Timeline =
    [
        new("job/g0", [new(0, 4, "generation")]),
        new("job/g1", [new(2, 6, "generation"), new(8, 12, "generation")]),
        new("job/s0", [new(5, 7, "scoring")]),
    ];

    [Theory]
    [InlineData("job/g12", "generation")]
    [InlineData("job/s3", "scoring")]
    [InlineData("job/actor/7", "actor")]
    [InlineData("job/critic/0", "critic")]
    public void A_holder_key_names_its_role(string holder, string role) => TimelineAnalysis.Role(holder).Should().Be(role);

    [Fact]
    public void A_key_of_no_role_is_refused() =>
        ((Action)(() => TimelineAnalysis.Role("job/trainer"))).Should().Throw<ArgumentException>().WithMessage("'job/trainer' is not*");

    [Fact]
    public void Busy_shares_divide_each_roles_clipped_bars_by_its_instances_time()
    {
        var busy = TimelineAnalysis.BusyByRole(Timeline, new Dictionary<string, int> { ["generation"] = 2, ["scoring"] = 2, ["actor"] = 1, ["critic"] = 0 }, 10);

        busy.Should().BeEquivalentTo(new Dictionary<string, double> { ["generation"] = (4 + 4 + 2) / 20.0, ["scoring"] = 2 / 20.0, ["actor"] = 0 },
            "a role with no instances has no share; an idle one has share 0");
    }

    [Fact]
    public void The_share_no_device_is_busy_counts_only_the_gaps_of_the_union()
    {
        TimelineAnalysis.NoDeviceBusyShare(Timeline, 10).Should().BeApproximately(0.1, 1e-12, "only 7-8 is uncovered");
        TimelineAnalysis.NoDeviceBusyShare(Timeline, 14).Should().BeApproximately(3 / 14.0, 1e-12, "7-8 and 12-14");
        TimelineAnalysis.NoDeviceBusyShare([], 5).Should().Be(1);
    }
}
