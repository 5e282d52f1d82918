using System.Globalization;
using System.Text.RegularExpressions;
using Grains.Interfaces.Jobs;

namespace Grains.Tests;

/// <summary>The silo's Prometheus endpoint (Metrics:PrometheusEnabled), scraped as Prometheus would.</summary>
[Collection(ClusterCollection.Name)]
public sealed class MetricsEndpointTests(ClusterFixture fixture)
{
    private static readonly HttpClient Http = new();

    private static async Task<string> Scrape() => await Http.GetStringAsync($"http://127.0.0.1:{ClusterFixture.MetricsPort}/metrics");

    /// <summary>The value of a counter's series for a job (0 when the series is not there yet).</summary>
    private static double Counter(string scraped, string name, string job) =>
        Regex.Match(scraped, $@"^{name}\{{[^}}]*job=""{job}""[^}}]*\}} (\S+)", RegexOptions.Multiline) is { Success: true } m
            ? double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) : 0;

    [Fact]
    public async Task A_jobs_counters_move_on_the_silos_prometheus_endpoint_as_it_trains()
    {
        var before = await Scrape();
        var run = RlJobTests.Run(fixture.Cluster.Client, RlJobTests.Tiny("metrics-scraped", iterations: 2));
        // Scraped while the job runs: its workers' queue-depth series, as Prometheus would see them.
        var queues = new HashSet<string>();
        while (!run.IsCompleted)
        {
            foreach (Match m in Regex.Matches(await Scrape(), @"(?m)^actors_queue_depth\{[^}]*job=""metrics-scraped""[^}]*worker=""([^""]+)""[^}]*\} \d+$")) queues.Add(m.Groups[1].Value);
            await Task.Delay(50);
        }
        var (status, metrics) = await run;
        status.State.Should().Be(JobState.Completed, status.Message);
        var trained = metrics.Skip(1).Sum(m => m.Ledger!.Trained);
        var after = await Scrape();
        // The exporter may answer from a cache for a moment: ask until the last step is in.
        for (var i = 0; i < 50 && Counter(after, "actors_steps_total", "metrics-scraped") < 2; i++)
        {
            await Task.Delay(100);
            after = await Scrape();
        }

        Counter(before, "actors_samples_trained_total", "metrics-scraped").Should().Be(0);
        Counter(after, "actors_steps_total", "metrics-scraped").Should().Be(2);
        Counter(after, "actors_samples_trained_total", "metrics-scraped").Should().Be(trained, "the job's own ledger counted as many");
        Counter(after, "actors_samples_generated_total", "metrics-scraped").Should().BeGreaterThanOrEqualTo(trained, "every trained sample was generated");
        Counter(after, "actors_tokens_generated_total", "metrics-scraped").Should().BeGreaterThanOrEqualTo(metrics.Skip(1).Sum(m => m.LengthMean * m.Ledger!.Trained) - 1);
        after.Should().MatchRegex(@"(?m)^actors_step_duration_seconds_count\{[^}]*job=""metrics-scraped""[^}]*\} 2$");
        Regex.Match(after, @"(?m)^actors_grain_calls_total(\{[^}]*\})? (\S+)").Groups[2].Value.Should().NotBeEmpty();
        queues.Should().NotBeEmpty("each of the job's workers publishes its queue while it serves the job");
        after.Should().NotContain("actors_queue_depth{otel_scope_name=\"Actors\",job=\"metrics-scraped\"", "the workers left with their devices when the job ended");
    }
}
