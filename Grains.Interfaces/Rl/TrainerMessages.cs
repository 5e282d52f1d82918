using Grains.Interfaces.Jobs;
namespace Grains.Interfaces.Rl;

/// <summary>How a trainer replica is built: model, role, seed and its loss and optimizer settings.</summary>
[GenerateSerializer, Immutable]
public sealed record TrainerSetup(
    [property: Id(0)] string Model,
    [property: Id(1)] bool Critic,
    [property: Id(2)] long Seed,
    [property: Id(3)] double LearningRate,
    [property: Id(4)] int WarmupSteps,
    [property: Id(5)] double ClipRatio,
    [property: Id(6)] double KlLossCoefficient,
    [property: Id(7)] KlEstimatorKind KlEstimator,
    [property: Id(8)] double EntropyCoefficient,
    [property: Id(9)] double Temperature,
    [property: Id(10)] double ValueClip,
    [property: Id(11)] EmulatedDevice? Emulated = null,
    [property: Id(12)] double BehaviourWeightCap = 5.0);

/// <summary>
/// A sample as the trainers need it; per-token arrays run over the response. With
/// <see cref="ProximalLogProbs"/> (asynchronous jobs: the actor's log-probs before the step) the actor's loss is decoupled PPO;
/// with <see cref="ProximalIsCurrent"/> too, the proximal log-probs being those of the weights that train the row (a row
/// trained once, in the step's first optimizer step: no separate forward pass for them). With <see cref="VersionLags"/>
/// (per token: the versions the proximal policy is ahead of the one that sampled it) decoupled PPO's clip range shrinks with the lag.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TrainingRow(
    [property: Id(0)] int[] Prompt,
    [property: Id(1)] int[] Response,
    [property: Id(2)] float[] OldLogProbs,
    [property: Id(3)] float[] Advantages,
    [property: Id(4)] float[]? OldValues,
    [property: Id(5)] float[]? Returns,
    [property: Id(6)] float[]? RefLogProbs,
    [property: Id(7)] int EmulatedPrompt = 0,
    [property: Id(8)] int EmulatedResponse = 0,
    [property: Id(9)] float[]? ProximalLogProbs = null,
    [property: Id(10)] bool ProximalIsCurrent = false,
    [property: Id(11)] bool[]? ToolTokens = null,
    [property: Id(12)] int[]? VersionLags = null)
{
    public int PromptTokens => Prompt.Length > 0 ? Prompt.Length : EmulatedPrompt;
    public int ResponseTokens => Response.Length > 0 ? Response.Length : EmulatedResponse;
    /// <summary>The response tokens the policy sampled: a loss's tokens (those a tool wrote left out).</summary>
    public int PolicyTokens => ResponseTokens - (ToolTokens?.Count(t => t) ?? 0);
}

/// <summary>Token-weighted sums over one replica's share of a mini-batch (see Kernels' UpdateSums); <see cref="BehaviourCut"/> the tokens decoupled PPO left out.</summary>
[GenerateSerializer, Immutable]
public sealed record TrainSums(
    [property: Id(0)] double Tokens,
    [property: Id(1)] double Loss,
    [property: Id(2)] double ClipFraction,
    [property: Id(3)] double ApproxKl,
    [property: Id(4)] double Entropy,
    [property: Id(5)] double Kl,
    [property: Id(6)] double BehaviourCut = 0)
{
    public static readonly TrainSums Zero = new(0, 0, 0, 0, 0, 0);

    public static TrainSums operator +(TrainSums a, TrainSums b) =>
        new(a.Tokens + b.Tokens, a.Loss + b.Loss, a.ClipFraction + b.ClipFraction, a.ApproxKl + b.ApproxKl, a.Entropy + b.Entropy, a.Kl + b.Kl, a.BehaviourCut + b.BehaviourCut);
}

/// <summary>One replica's gradient (flat fp32, already divided by the mini-batch's tokens) and its sums.</summary>
[GenerateSerializer, Immutable]
public sealed record GradientShare([property: Id(0)] float[] Gradient, [property: Id(1)] TrainSums Sums);

/// <summary>A supervised warm start: prompt and answer tokens, batch size, steps and rate.</summary>
[GenerateSerializer, Immutable]
public sealed record SftRequest(
    [property: Id(0)] int[][] Prompts,
    [property: Id(1)] int[][] Answers,
    [property: Id(2)] int BatchSize,
    [property: Id(3)] int Steps,
    [property: Id(4)] double LearningRate,
    [property: Id(5)] long Seed);
