using System.Text.Json;
using Grains.Interfaces.Rl;

namespace Client.Commands;

/// <summary>
/// The metrics.jsonl a watching client keeps: one JSON line per iteration. A resumed run replays the
/// iterations after its checkpoint, so the first line this journal writes first drops the file's lines
/// from that iteration on: no iteration appears twice, and none written before the checkpoint is lost.
/// </summary>
public sealed class MetricsJournal(string path)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);
    private bool trimmed;

    public string Path => path;

    /// <summary>Every iteration's metrics in a journal, in file order; a line that is not one names its number.</summary>
    public static async Task<IterationMetrics[]> Read(string path, CancellationToken cancellationToken)
    {
        var lines = await File.ReadAllLinesAsync(path, cancellationToken);
        var metrics = new List<IterationMetrics>();
        for (var i = 0; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            try
            {
                metrics.Add(JsonSerializer.Deserialize<IterationMetrics>(lines[i], Json) ?? throw new JsonException("null"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{i + 1}: not an iteration's metrics ({e.Message})", e);
            }
        }
        return [.. metrics];
    }

    public async Task Append(IterationMetrics metrics, CancellationToken cancellationToken)
    {
        if (!trimmed)
        {
            if (System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path)) is { } directory) Directory.CreateDirectory(directory);
            if (File.Exists(path)) await TrimFrom(metrics.Iteration, cancellationToken);
            trimmed = true;
        }
        await File.AppendAllTextAsync(path, JsonSerializer.Serialize(metrics, Json) + "\n", cancellationToken);
    }

    private async Task TrimFrom(int iteration, CancellationToken cancellationToken)
    {
        var kept = (await File.ReadAllLinesAsync(path, cancellationToken)).Where(line => !string.IsNullOrWhiteSpace(line) && IterationOf(line) is { } i && i < iteration);
        await File.WriteAllLinesAsync(path, kept, cancellationToken);
    }

    /// <summary>A line's iteration, or null for a line that is not one of ours (it is dropped with the replayed ones).</summary>
    private static int? IterationOf(string line)
    {
        try
        {
            using var document = JsonDocument.Parse(line);
            return document.RootElement.TryGetProperty("iteration", out var i) && i.TryGetInt32(out var value) ? value : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }
}
