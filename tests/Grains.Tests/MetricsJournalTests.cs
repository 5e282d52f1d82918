using Client.Commands;
using Grains.Interfaces.Rl;

namespace Grains.Tests;

/// <summary>The client's metrics.jsonl across a stop and a resume: no iteration twice, none lost.</summary>
public sealed class MetricsJournalTests : IDisposable
{
    private readonly string file = Path.Combine(Path.GetTempPath(), $"metrics-{Guid.NewGuid():N}", "metrics.jsonl");

    [Fact]
    public async Task A_resumed_run_replaces_the_iterations_after_its_checkpoint()
    {
        // The first run reached iteration 12; its last checkpoint was after 10.
        var first = new MetricsJournal(file);
        for (var i = 0; i <= 12; i++) await first.Append(new IterationMetrics { Iteration = i, RewardMean = i }, CancellationToken.None);

        // The resumed run replays 11 and 12, then goes on.
        var resumed = new MetricsJournal(file);
        for (var i = 11; i <= 14; i++) await resumed.Append(new IterationMetrics { Iteration = i, RewardMean = 100 + i }, CancellationToken.None);

        var lines = await File.ReadAllLinesAsync(file);
        var written = lines.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement).Select(e => (e.GetProperty("iteration").GetInt32(), e.GetProperty("rewardMean").GetDouble())).ToArray();
        written.Select(w => w.Item1).Should().Equal(Enumerable.Range(0, 15), "each iteration once, in order");
        written.Where(w => w.Item1 > 10).Should().OnlyContain(w => w.Item2 == 100 + w.Item1, "the replayed iterations are the resumed run's");
        written.Where(w => w.Item1 <= 10).Should().OnlyContain(w => w.Item2 == w.Item1);
    }

    public void Dispose() => Directory.Delete(Path.GetDirectoryName(file)!, recursive: true);
}
