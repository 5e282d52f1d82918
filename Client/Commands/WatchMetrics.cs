using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Grains.Interfaces.Rl;
using OpenTelemetry;
using OpenTelemetry.Metrics;

namespace Client.Commands;

/// <summary>
/// What <c>actors watch --prometheus-port</c> publishes while it watches: each watched job's latest iteration as
/// gauges tagged with the job (meter "Actors.Client"), and the Orleans client's own meter, through OpenTelemetry's
/// Prometheus listener at http://127.0.0.1:{port}/metrics; so a researcher's Grafana can follow a job from the
/// machine that watches it, without access to the silos' endpoints.
/// </summary>
public sealed class WatchMetrics : IDisposable
{
    public const string MeterName = "Actors.Client";

    private readonly Meter meter = new(MeterName);
    private readonly ConcurrentDictionary<string, IterationMetrics> latest = new();
    private readonly MeterProvider provider;

    public WatchMetrics(int port)
    {
        Gauge("actors.client.iteration", "{iteration}", "The job's latest iteration", m => m.Iteration);
        Gauge("actors.client.reward.mean", null, "Mean reward of the iteration's trained samples", m => m.RewardMean);
        Gauge("actors.client.kl", null, "KL to the reference of the iteration's trained samples", m => m.Kl);
        Gauge("actors.client.entropy", null, "Policy entropy over the iteration's trained tokens", m => m.Entropy);
        Gauge("actors.client.held_out.accuracy", null, "Held-out greedy accuracy, at the iterations that evaluate it", m => m.HeldOutAccuracy);
        Gauge("actors.client.response.length", "{token}", "Mean response length of the iteration", m => m.LengthMean);
        Gauge("actors.client.samples.rate", "{sample}/s", "Samples trained per second of the iteration", m => m.SamplesPerSecond);
        Gauge("actors.client.tokens.rate", "{token}/s", "Tokens per second of the iteration", m => m.TokensPerSecond);
        Gauge("actors.client.step.duration", "s", "Wall seconds of the iteration", m => m.IterationSeconds);
        Gauge("actors.client.staleness", "{version}", "Mean weights-version lag of the iteration's trained samples (asynchronous jobs)", m => m.VersionLagMean);
        provider = Sdk.CreateMeterProviderBuilder().AddMeter(MeterName, "Microsoft.Orleans")
            .AddPrometheusHttpListener(o => (o.Host, o.Port) = ("127.0.0.1", port)).Build();
    }

    /// <summary>The iteration <paramref name="job"/> reported last: what the gauges read from now on.</summary>
    public void Record(string job, IterationMetrics metrics) => latest[job] = metrics;

    private void Gauge(string name, string? unit, string description, Func<IterationMetrics, double?> value) =>
        meter.CreateObservableGauge(name, () => latest.Select(j => (j.Key, Value: value(j.Value)))
            .Where(j => j.Value is not null).Select(j => new Measurement<double>(j.Value!.Value, new KeyValuePair<string, object?>("job", j.Key))), unit, description);

    public void Dispose()
    {
        provider.Dispose();
        meter.Dispose();
    }
}
