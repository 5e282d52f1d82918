using System.Globalization;
using System.Text.RegularExpressions;
using Client.Commands;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Tests;

/// <summary>The client's Prometheus endpoint (<c>actors watch --prometheus-port</c>): the watched jobs' latest iterations, scraped as Prometheus would.</summary>
[Collection(ClusterCollection.Name)]
public sealed class WatchMetricsTests(ClusterFixture fixture)
{
    private static readonly HttpClient Http = new();

    /// <summary>A gauge's value for a job, or null when it has no series for it.</summary>
    private static double? Gauge(string scraped, string name, string job) =>
        Regex.Match(scraped, $@"^{name}\{{[^}}]*job=""{job}""[^}}]*\}} (\S+)", RegexOptions.Multiline) is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : null;

    [Fact]
    public async Task Watching_a_job_serves_its_latest_iteration_as_gauges_tagged_with_the_job()
    {
        var (status, metrics) = await RlJobTests.Run(fixture.Cluster.Client, RlJobTests.Tiny("watch-gauges", iterations: 2));
        var port = Testing.ChildProcess.FreePort();
        using var gauges = new WatchMetrics(port);

        var watched = await Client.Commands.JobView.WatchAsync(fixture.Cluster.Client, "watch-gauges", CancellationToken.None, gauges: gauges);
        gauges.Record("other-job", new IterationMetrics { Iteration = 7, RewardMean = 0.25, IterationSeconds = 3.5 });
        var scraped = await Http.GetStringAsync($"http://127.0.0.1:{port}/metrics");

        (status.State, watched.State).Should().Be((JobState.Completed, JobState.Completed), status.Message);
        var last = metrics[^1];
        Gauge(scraped, "actors_client_iteration", "watch-gauges").Should().Be(2);
        Gauge(scraped, "actors_client_reward_mean", "watch-gauges").Should().BeApproximately(last.RewardMean, 1e-9);
        Gauge(scraped, "actors_client_kl", "watch-gauges").Should().BeApproximately(last.Kl, 1e-9);
        Gauge(scraped, "actors_client_held_out_accuracy", "watch-gauges").Should().BeApproximately(last.HeldOutAccuracy!.Value, 1e-9);
        Gauge(scraped, "actors_client_step_duration_seconds", "watch-gauges").Should().BeApproximately(last.IterationSeconds, 1e-9);
        Gauge(scraped, "actors_client_reward_mean", "other-job").Should().Be(0.25);
        Gauge(scraped, "actors_client_held_out_accuracy", "other-job").Should().BeNull("an iteration that did not evaluate has no held-out accuracy to show");
    }
}
