using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Kernels.Rl;

namespace Grains.Iteration;

/// <summary>Gathers one iteration's figures as it runs (rollout, advantages, training steps) and builds its <see cref="IterationMetrics"/>.</summary>
public sealed class IterationMetricsBuilder(int iteration, DateTimeOffset began, double timeScale)
{
    private SampleRecord[] records = [];
    private int[] lags = [];
    private DateTimeOffset trainingBegan;
    private AdvantageResult? advantages;
    private TrainSums actor = TrainSums.Zero;
    private TrainSums? critic;
    private double gradNorm;
    private readonly Dictionary<string, double> stepBusy = [];
    private readonly List<double> bubbles = [];
    private StepLedger? ledger;
    private int rebuilt;
    private int early;
    private RoundReport? round;
    private MigrationPlan? migration;
    private RankingReport? ranking;
    private SkewSplit? split;
    private PoolSizes? pools;

    /// <param name="lags">Each sample's weights version behind the version the step trains (0 when synchronous).</param>
    /// <param name="trainingBegan">When the step's first optimizer step began (before its last sample was scored, when streamed).</param>
    public void Rollout(SampleRecord[] scored, AdvantageResult estimated, int[] lags, DateTimeOffset trainingBegan) =>
        (records, advantages, this.lags, this.trainingBegan) = (scored, estimated, lags, trainingBegan);

    /// <summary>How well the step's length forecast ranked what came, and the skew-aware split it was dispatched with.</summary>
    public void Ranked(RankingReport? report, SkewSplit? split) => (ranking, this.split) = (report, split);

    public void Pooled(PoolSizes sizes) => pools = sizes;

    /// <param name="migration">The long-tail migration the step was launched with.</param>
    public void Accounted(StepLedger accounted, MigrationPlan? migration) => (ledger, this.migration) = (accounted, migration);

    /// <summary>The step's tail-batching round, if it ran one, the prompts waiting for a long round after it, and (emulated) the bound on training what it kept.</summary>
    public void Round(PlannedRound? planned, int deferred, double? boundSeconds) => round = planned is null ? null : new RoundReport(planned.Long, deferred, boundSeconds);

    public void Trained(TrainStep step)
    {
        (actor, gradNorm) = (actor + step.Actor, step.GradNorm);
        if (step.Critic is { } c) critic = (critic ?? TrainSums.Zero) + c;
        foreach (var (device, seconds) in step.DeviceBusy) stepBusy[device] = stepBusy.GetValueOrDefault(device) + seconds;
        if (step.Bubble is { } b) bubbles.Add(b);
        rebuilt += step.Rebuilt;
        early += step.EarlyRows;
    }

    /// <param name="seconds">The whole iteration; <paramref name="trainingSeconds"/>: from the rollout's end to the published weights.</param>
    public IterationMetrics Build(double seconds, double trainingSeconds, HeldOutResult? heldOut, DeviceUsage[] usage, double? expectedBubble)
    {
        var generationEnd = records.Max(r => r.Times.Generated!.Value);
        var scoringEnd = records.Max(r => r.Times.Scored!.Value);
        var rewards = records.Select(r => r.Scores!.Reward).ToArray();
        var rewardMean = rewards.Average();
        var lengths = records.Select(r => r.Generated!.Tokens).Order().ToArray();
        return new IterationMetrics
        {
            Iteration = iteration,
            RewardMean = rewardMean,
            RewardStd = Math.Sqrt(rewards.Sum(r => (r - rewardMean) * (r - rewardMean)) / Math.Max(1, rewards.Length - 1)),
            HeldOutAccuracy = heldOut?.Accuracy, HeldOutExample = heldOut?.Example,
            Kl = advantages!.MeanKl,
            Entropy = actor.Entropy / actor.Tokens,
            PolicyLoss = actor.Loss / actor.Tokens,
            ValueLoss = critic is { } c ? c.Loss / c.Tokens : null,
            ClipFraction = actor.ClipFraction / actor.Tokens,
            BehaviourCutShare = actor.BehaviourCut / actor.Tokens,
            LengthMean = lengths.Average(),
            LengthP50 = Percentile(lengths, 0.50),
            LengthP99 = Percentile(lengths, 0.99),
            LengthMax = lengths[^1],
            // An asynchronous step's samples may all be generated before its iteration begins.
            GenerationSeconds = Math.Max(0, (generationEnd - began).TotalSeconds),
            ScoringSeconds = Math.Max(0, (scoringEnd - generationEnd).TotalSeconds),
            TrainingSeconds = trainingSeconds,
            IterationSeconds = seconds,
            SamplesPerSecond = records.Length / seconds,
            TokensPerSecond = lengths.Sum() / seconds,
            DeviceBusy = usage.Select(u => (u.Holder, u.BusySeconds)).Concat(stepBusy.Select(b => (b.Key, b.Value)))
                .ToDictionary(u => u.Item1, u => Math.Round(u.Item2 / seconds, 4)),
            WeightVersion = iteration,
            WeightBytes = WeightBytesOf(usage),
            GradNorm = gradNorm,
            TimeScale = timeScale,
            Timeline = [.. usage.Where(u => u.Intervals is { Length: > 0 }).Select(u => new DeviceTimeline(u.Holder,
                [.. u.Intervals!.Select(b => new TimelineBar((b.Start - began).TotalSeconds * timeScale, (b.End - began).TotalSeconds * timeScale, b.Stage))]))],
            PipelineBubble = bubbles.Count > 0 ? bubbles.Average() : null,
            PipelineBubbleExpected = expectedBubble,
            Ledger = ledger,
            ReplicasRebuilt = rebuilt,
            EarlyTrainedSamples = early,
            VersionLagMean = lags.Length > 0 ? lags.Average() : 0,
            VersionLagMax = lags.Length > 0 ? lags.Max() : 0,
            PartialShare = records.Count(r => r.Generated!.Partial) / (double)records.Length,
            TrainingStartSeconds = (trainingBegan - began).TotalSeconds,
            Migration = migration,
            Round = round,
            Ranking = ranking,
            Tools = ToolReport.Of(records.Select(r => r.Generated!.Turns)),
            Spoken = SpokenReport.Of(records.Select(r => r.Scores!.PitchHz)),
            Split = split,
            Pools = pools,
        };
    }

    private static int Percentile(int[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary>The trained weights the devices' reads moved, summed by link.</summary>
    public static Dictionary<string, long> WeightBytesOf(IEnumerable<DeviceUsage> usage) =>
        usage.SelectMany(u => u.WeightBytes).GroupBy(b => b.Key).ToDictionary(g => g.Key, g => g.Sum(b => b.Value));
}
