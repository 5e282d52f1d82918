using System.Text.Json;
using System.Text.Json.Serialization;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;

namespace Grains.Iteration;

/// <summary>
/// Each iteration's metrics as an object in the store, written by the job before it reports them: a job
/// grain re-activated after its silo's loss reads them back, so a watching client misses none and sees
/// none twice. A fresh run removes them with the rest of an earlier run's objects.
/// </summary>
public sealed class JobMetricsLog(JobSpec job, ICheckpointStore store)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals };
    private readonly JobKeys keys = JobKeys.For(job);

    public Task Save(IterationMetrics metrics) => store.WriteAsync(keys.Metrics(metrics.Iteration), new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(metrics, Json)));

    /// <summary>Every iteration's metrics written so far from <paramref name="fromIteration"/> on, in order.</summary>
    public async Task<IReadOnlyList<IterationMetrics>> Load(int fromIteration = 0)
    {
        var loaded = new List<IterationMetrics>();
        var first = keys.Metrics(fromIteration);
        foreach (var name in (await store.ListAsync(keys.MetricsPrefix)).Select(o => o.Name).Where(n => string.CompareOrdinal(n, first) >= 0).Order(StringComparer.Ordinal))
        {
            using var buffer = new MemoryStream();
            await store.ReadAsync(name, buffer);
            loaded.Add(JsonSerializer.Deserialize<IterationMetrics>(buffer.ToArray(), Json) ?? throw new InvalidDataException($"{name} is empty"));
        }
        return loaded;
    }
}
