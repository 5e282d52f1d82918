namespace Kernels.Training;

public enum LearningRateSchedule
{
    /// <summary>The peak rate after warm-up, for good.</summary>
    Constant,
    /// <summary>Half a cosine from the peak rate down to MinLearningRateRatio x peak at TotalSteps.</summary>
    Cosine,
}

/// <summary>AdamW with gradient-norm clipping and a linear warm-up into a constant or cosine schedule.</summary>
public sealed record OptimizerOptions
{
    public double LearningRate { get; init; } = 1e-3;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Epsilon { get; init; } = 1e-8;
    public double WeightDecay { get; init; } = 0.01;
    /// <summary>Clip the global gradient norm to this; 0 switches clipping off.</summary>
    public double MaxGradNorm { get; init; } = 1.0;
    public int WarmupSteps { get; init; }
    /// <summary>The step at which the cosine schedule reaches its floor (needed by Cosine).</summary>
    public int TotalSteps { get; init; }
    public LearningRateSchedule Schedule { get; init; } = LearningRateSchedule.Constant;
    public double MinLearningRateRatio { get; init; }

    public OptimizerOptions Validated()
    {
        string? problem =
            LearningRate <= 0 ? $"LearningRate {LearningRate} must be positive" :
            Beta1 is < 0 or >= 1 ? $"Beta1 {Beta1} must be in [0, 1)" :
            Beta2 is < 0 or >= 1 ? $"Beta2 {Beta2} must be in [0, 1)" :
            Epsilon <= 0 ? $"Epsilon {Epsilon} must be positive" :
            WeightDecay < 0 ? $"WeightDecay {WeightDecay} must be >= 0" :
            MaxGradNorm < 0 ? $"MaxGradNorm {MaxGradNorm} must be >= 0 (0 = no clipping)" :
            WarmupSteps < 0 ? $"WarmupSteps {WarmupSteps} must be >= 0" :
            Schedule == LearningRateSchedule.Cosine && TotalSteps <= WarmupSteps ? $"TotalSteps {TotalSteps} must exceed WarmupSteps {WarmupSteps} for a cosine schedule" :
            MinLearningRateRatio is < 0 or > 1 ? $"MinLearningRateRatio {MinLearningRateRatio} must be in [0, 1]" : null;
        return problem is null ? this : throw new ArgumentException($"optimizer: {problem}");
    }

    /// <summary>
    /// The rate for 0-based step s: peak (s + 1) / warmup during warm-up; then the peak (constant), or
    /// peak (m + (1 - m) (1 + cos(pi p)) / 2) with p = (s - warmup) / (total - warmup) clamped to 1 (cosine).
    /// </summary>
    public double LearningRateAt(int step)
    {
        if (step < WarmupSteps) return LearningRate * (step + 1) / WarmupSteps;
        if (Schedule == LearningRateSchedule.Constant) return LearningRate;
        var progress = Math.Min(1.0, (double)(step - WarmupSteps) / (TotalSteps - WarmupSteps));
        return LearningRate * (MinLearningRateRatio + (1 - MinLearningRateRatio) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
