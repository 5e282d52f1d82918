namespace Grains.Interfaces.Rl;

/// <summary>One iteration's figures, as printed and appended to the metrics file.</summary>
[GenerateSerializer, Immutable]
public sealed record IterationMetrics
{
    [Id(0)] public int Iteration { get; init; }
    [Id(1)] public double RewardMean { get; init; }
    [Id(2)] public double RewardStd { get; init; }
    /// <summary>Held-out greedy exact-match accuracy after this iteration's update; null when not evaluated.</summary>
    [Id(3)] public double? HeldOutAccuracy { get; init; }
    [Id(4)] public double Kl { get; init; }
    [Id(5)] public double Entropy { get; init; }
    [Id(6)] public double PolicyLoss { get; init; }
    [Id(7)] public double? ValueLoss { get; init; }
    [Id(8)] public double ClipFraction { get; init; }
    [Id(9)] public double LengthMean { get; init; }
    [Id(10)] public int LengthP50 { get; init; }
    [Id(11)] public int LengthP99 { get; init; }
    [Id(12)] public int LengthMax { get; init; }
    [Id(13)] public double GenerationSeconds { get; init; }
    [Id(14)] public double ScoringSeconds { get; init; }
    [Id(15)] public double TrainingSeconds { get; init; }
    [Id(16)] public double IterationSeconds { get; init; }
    [Id(17)] public double SamplesPerSecond { get; init; }
    [Id(18)] public double TokensPerSecond { get; init; }
    [Id(19)] public Dictionary<string, double> DeviceBusy { get; init; } = [];
    [Id(20)] public int WeightVersion { get; init; }
    [Id(21)] public double GradNorm { get; init; }
}
