using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Grains.Telemetry;

/// <summary>
/// The figures a silo publishes through System.Diagnostics.Metrics (meter "Actors"): what a job's
/// iteration lines print, as counters and histograms tagged with the job's name, for OpenTelemetry to
/// export (the silo's Prometheus endpoint when Metrics:Prometheus:Enabled). Each is recorded where it
/// happens: samples and tokens by the generation worker that made them, steps by the job's runner, grain
/// calls by the silo that received them; each generation worker's queue depth is read when a scrape observes it.
/// </summary>
public static class ActorsMeter
{
    public const string Name = "Actors";

    private static readonly Meter Meter = new(Name);

    public static readonly Counter<long> SamplesGenerated = Meter.CreateCounter<long>("actors.samples.generated", "{sample}", "Responses finished by generation workers");

    public static readonly Counter<long> TokensGenerated = Meter.CreateCounter<long>("actors.tokens.generated", "{token}", "Response tokens finished by generation workers");

    public static readonly Counter<long> SamplesTrained = Meter.CreateCounter<long>("actors.samples.trained", "{sample}", "Samples a job trained on");

    public static readonly Counter<long> Steps = Meter.CreateCounter<long>("actors.steps", "{step}", "Iterations a job finished");

    public static readonly Histogram<double> StepDuration = Meter.CreateHistogram<double>("actors.step.duration", "s", "Wall seconds of an iteration");

    public static readonly Histogram<double> DeviceBusy = Meter.CreateHistogram<double>("actors.device.busy", "1", "Each device's busy share of an iteration");

    public static readonly Histogram<double> Staleness = Meter.CreateHistogram<double>("actors.staleness", "{version}", "Mean weights-version lag of an iteration's trained samples (asynchronous jobs)");

    public static readonly Counter<long> ToolCalls = Meter.CreateCounter<long>("actors.tool.calls", "{call}", "Tool calls made by generating samples, by tool and outcome (answered, failed, timedout, cutoff)");

    public static readonly Histogram<double> ToolDuration = Meter.CreateHistogram<double>("actors.tool.duration", "s", "Wall seconds of a tool call, by tool");

    public static readonly Counter<long> GrainCalls = Meter.CreateCounter<long>("actors.grain.calls", "{call}", "Grain calls this silo received");

    // Each live generation worker's queue, read when the gauge is observed (an exporter's scrape).
    private static readonly ConcurrentDictionary<string, (string Job, Func<(int Waiting, int Running)> Depth)> Queues = new();

    public static readonly ObservableGauge<int> QueueDepth = Meter.CreateObservableGauge("actors.queue.depth", ObserveQueues, "{sample}",
        "Samples a generation worker holds: waiting to be admitted (state=waiting) and in its batch (state=running), by job and worker");

    /// <summary>Publishes <paramref name="worker"/>'s queue depth until the handle is disposed (the worker deactivates or serves another job).</summary>
    public static IDisposable WatchQueue(string worker, string job, Func<(int Waiting, int Running)> depth)
    {
        Queues[worker] = (job, depth);
        return new Unwatch(() => Queues.TryRemove(worker, out _));
    }

    private static IEnumerable<Measurement<int>> ObserveQueues() => Queues.SelectMany(queue =>
    {
        var (waiting, running) = queue.Value.Depth();
        KeyValuePair<string, object?>[] tags = [Job(queue.Value.Job), new("worker", queue.Key)];
        return new[] { new Measurement<int>(waiting, [.. tags, new("state", "waiting")]), new Measurement<int>(running, [.. tags, new("state", "running")]) };
    });

    private sealed class Unwatch(Action undo) : IDisposable
    {
        public void Dispose() => undo();
    }

    public static KeyValuePair<string, object?> Job(string name) => new("job", name);
}
