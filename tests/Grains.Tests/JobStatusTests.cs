using FluentAssertions;
using Grains.Interfaces.Jobs;

namespace Grains.Tests;

public class JobStatusTests
{
    [Fact]
    public void A_notice_is_kept_once_and_only_the_latest_are_kept()
    {
        var status = new JobStatus("j", JobState.Running, 0, 3, null, "running", null, null);

        var noticed = status.Noticed("j/g1 stopped: weights version 1 failed to load").Noticed("j/g1 stopped: weights version 1 failed to load");
        noticed.Notices.Should().Equal("j/g1 stopped: weights version 1 failed to load");

        var many = Enumerable.Range(0, JobStatus.MaxNotices + 5).Aggregate(status, (s, k) => s.Noticed($"notice {k}"));
        many.Notices.Should().HaveCount(JobStatus.MaxNotices);
        many.Notices[0].Should().Be("notice 5", "the oldest go first");
        many.Notices[^1].Should().Be($"notice {JobStatus.MaxNotices + 4}");
    }
}
