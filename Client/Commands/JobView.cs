using System.Text.Json;
using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Spectre.Console;

namespace Client.Commands;

/// <summary>How the client shows a job: a status table, or live progress until it ends.</summary>
public static class JobView
{
    public static void Print(JobStatus status, GeneratingSample[]? generating = null)
    {
        var table = new Table().Title($"Job {Markup.Escape(status.Job)}").AddColumns("field", "value");
        table.AddRow("state", status.State.ToString());
        table.AddRow("iterations", $"{status.IterationsDone}/{status.Iterations}");
        table.AddRow("last loss", status.LastLoss?.ToString("G6") ?? "-");
        table.AddRow("message", Markup.Escape(status.Message));
        table.AddRow("started", status.Started?.ToString("u") ?? "-");
        table.AddRow("finished", status.Finished?.ToString("u") ?? "-");
        if (status.Recoveries > 0) table.AddRow("recoveries", $"{status.Recoveries} (went back to its last checkpoint after a silo's loss)");
        foreach (var notice in status.Notices) table.AddRow("[yellow]notice[/]", Markup.Escape(notice));
        // Partial rollouts: the workers tell the job their samples' tokens so far, so the long tail shows.
        if (generating is { Length: > 0 })
        {
            table.AddRow("generating", $"{generating.Length} samples told of; longest {Markup.Escape(generating[0].SampleId)} ({generating[0].Tokens} tokens so far)");
        }
        AnsiConsole.Write(table);
    }

    /// <summary>
    /// Prints the job's progress until it ends, one line per change of its message and one line per RL
    /// iteration; each iteration's metrics also go to <paramref name="journal"/> as one JSON line.
    /// Returns its last status.
    /// </summary>
    public static async Task<JobStatus> WatchAsync(IGrainFactory grains, string job, CancellationToken cancellationToken, MetricsJournal? journal = null, WatchCursor? cursor = null,
        WatchMetrics? gauges = null)
    {
        cursor ??= new WatchCursor();
        var grain = grains.GetGrain<IJobGrain>(job);
        // A call that fails with a silo's loss (this client's gateway, the job grain's) is asked again: the
        // job goes on by itself, and so does watching it.
        var status = await SiloLoss.Retry(grain.Status);
        if (status.State == JobState.NotSubmitted) return status;
        while (true)
        {
            foreach (var m in await SiloLoss.Retry(() => grain.Metrics(cursor.NextIteration)))
            {
                // Plain lines, never wrapped at the terminal width: they are read and grepped.
                Console.WriteLine(MetricsLine(m));
                if (journal is not null) await journal.Append(m, cancellationToken);
                gauges?.Record(job, m);
                cursor.NextIteration = m.Iteration + 1;
            }
            if (status.Message != cursor.Message && !status.Message.StartsWith("iteration "))
            {
                AnsiConsole.MarkupLine($"[grey]{DateTime.Now:HH:mm:ss}[/] {Markup.Escape(job)}: {Markup.Escape(status.Message)}");
            }
            cursor.Message = status.Message;
            if (status.IsFinished) break;
            await Task.Delay(500, cancellationToken);
            status = await SiloLoss.Retry(grain.Status);
        }
        return status;
    }

    /// <summary>One iteration on one line: what a researcher scans while a job runs.</summary>
    public static string MetricsLine(IterationMetrics m) => m.Preference is { } p ? PreferenceLine(m, p) : m.Iteration == 0
        ? $"start (after the supervised warm start): held-out accuracy {m.HeldOutAccuracy:P1}" + Example(m)
        : $"it {m.Iteration,4} reward {m.RewardMean:F3}±{m.RewardStd:F3}" +
          (m.HeldOutAccuracy is { } a ? $" acc {a:P1}" : "") +
          $" kl {m.Kl:F4} ent {m.Entropy:F3} pg {m.PolicyLoss:F4}" + (m.ValueLoss is { } v ? $" vf {v:F4}" : "") +
          $" clip {m.ClipFraction:F3} len {m.LengthMean:F1}/{m.LengthP50}/{m.LengthP99}/{m.LengthMax}" +
          $" gen {m.GenerationSeconds:F2}s score {m.ScoringSeconds:F2}s train {m.TrainingSeconds:F2}s" +
          $" {m.SamplesPerSecond:F0} samples/s {m.TokensPerSecond:F0} tok/s" +
          (m.PipelineBubble is { } bubble ? $" bubble {bubble:P0} (expected {m.PipelineBubbleExpected:P0})" : "") +
          (m.Ledger is { } l && (l.Redispatched > 0 || l.Discarded > 0) ? $" resent {l.Redispatched}{(l.TokensCarried > 0 ? $" (carried {l.TokensCarried} tokens)" : "")}{(l.TakenBack > 0 ? $" {l.TakenBack} taken back" : "")}{(l.Migrated > 0 ? $" ({l.Migrated} migrated{(l.CachesCarried > 0 ? $", {l.CachesCarried} with their KV cache" : "")})" : "")} discarded {l.Discarded}" : "")
          + (m.Round is { } round ? $" {(round.Long ? "long" : "short")} round ({round.Deferred} deferred)" : "")
          + (m.ReplicasRebuilt > 0 ? $" rebuilt {m.ReplicasRebuilt} replicas" : "")
          + (m.EarlyTrainedSamples > 0 ? $" early {m.EarlyTrainedSamples}" : "")
          + (m.VersionLagMax > 0 ? $" lag {m.VersionLagMean:0.##}/{m.VersionLagMax}" : "") + (m.PartialShare > 0 ? $" partial {m.PartialShare:P0}" : "")
          + (m.BehaviourCutShare > 0 ? $" cut {m.BehaviourCutShare:P1}" : "")
          + (m.Ranking is { } r ? $" ranker r20 {r.PromptRecall:F2}/{r.ResponseRecall:F2}{(r.HalfwayPromptRecall is { } h ? $" halfway {h:F2}" : "")} rho {r.PromptRankCorrelation:F2} known {r.KnownShare:P0}" : "")
          + (m.Split is { LongWorkers: > 0 } split ? $" long-tail {split.LongWorkers}x{split.LongBatch}" : "")
          + (m.Pools is { } pools ? $" pools {pools.GenerationWorkers}g/{pools.TrainingReplicas}t" : "")
          + (m.Tools is { } t ? $" tools {t.CallsPerSample:F2}/sample ({t.CallingShare:P0} called) {t.Calls} calls {t.Failed} failed {t.TimedOut} timed out {t.CutOff} cut off {t.MeanCallSeconds * 1000:F1} ms masked {t.MaskedTokens}" : "")
          + (m.Spoken is { } spoken ? $" spoken {spoken.VoicedShare:P0} voiced, pitch {spoken.MedianHz:F0} Hz" : "")
          + " busy " + Busy(m.DeviceBusy) + Example(m);

    /// <summary>When evaluated, the first held-out prompt's greedy response, on a line of its own.</summary>
    private static string Example(IterationMetrics m) => m.HeldOutExample is { } e ? $"{Environment.NewLine}  e.g. {e}" : "";

    /// <summary>A DPO job's iteration: its pairs' loss, rewards and accuracy, the held-out pairs' and the task's accuracy when evaluated.</summary>
    private static string PreferenceLine(IterationMetrics m, PreferenceReport p) =>
        (m.Iteration == 0 ? "start (after the warm start):" : $"it {m.Iteration,4} loss {p.Loss:F4} margin {p.Margin:F3} (chosen {p.ChosenReward:F3} rejected {p.RejectedReward:F3}) pairs right {p.Accuracy:P0} |g| {m.GradNorm:F3}")
        + (p.HeldOutAccuracy is { } h ? $" held-out pairs right {h:P1} margin {p.HeldOutMargin:F3}" : "")
        + (m.HeldOutAccuracy is { } a ? $" acc {a:P1}" : "")
        + (m.Iteration == 0 ? "" : $" train {m.TrainingSeconds:F2}s {m.SamplesPerSecond:F0} pairs/s busy " + Busy(m.DeviceBusy)) + Example(m);

    /// <summary>Each device's busy share; past a handful of devices, each kind's mean and range (g, s, actor, critic), so the line stays a line.</summary>
    private static string Busy(IReadOnlyDictionary<string, double> busy)
    {
        // A colocated device's roles end in "@job/d{k}": the role's own name comes before it.
        static string Device(string key) => key.Split('@')[0] is var own ? own[(own.IndexOf('/') + 1)..] : key;
        if (busy.Count <= 8) return string.Join(",", busy.OrderBy(d => d.Key).Select(d => $"{Device(d.Key)}={d.Value:P0}"));
        return string.Join(",", busy.GroupBy(d => Device(d.Key).TrimEnd("0123456789".ToCharArray()).TrimEnd('/')).OrderBy(g => g.Key)
            .Select(g => $"{g.Key}x{g.Count()}={g.Average(d => d.Value):P0} ({g.Min(d => d.Value):P0}-{g.Max(d => d.Value):P0})"));
    }

    public static int ExitCode(JobStatus status) => status.State == JobState.Completed ? 0 : 1;

    /// <summary>Reads and validates a job file; on bad input prints what is wrong and returns null.</summary>
    public static async Task<JobSpec?> LoadAsync(string file, CancellationToken cancellationToken)
    {
        try
        {
            return JobSpec.FromJson(await File.ReadAllTextAsync(file, cancellationToken), file);
        }
        catch (Exception e) when (e is ArgumentException or IOException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return null;
        }
    }
}

/// <summary>How far a watch has shown a job, so that a second watch goes on without repeating lines.</summary>
public sealed class WatchCursor
{
    public int NextIteration { get; set; }
    public string Message { get; set; } = "";
}
