using Grains.Interfaces.Jobs;

namespace Grains.Interfaces.Rl;

/// <summary>A preference pair as the trainers need it: tokens, and the frozen reference's sequence log-probs of each response.</summary>
[GenerateSerializer, Immutable]
public sealed record PreferenceRow(
    [property: Id(0)] int[] Prompt,
    [property: Id(1)] int[] Chosen,
    [property: Id(2)] int[] Rejected,
    [property: Id(3)] float RefChosen,
    [property: Id(4)] float RefRejected)
{
    public int Tokens => 2 * Prompt.Length + Chosen.Length + Rejected.Length;
}

/// <summary>A replica's share of a batch of pairs: its rows, the batch's pairs (the loss is a mean over them) and the loss.</summary>
[GenerateSerializer, Immutable]
public sealed record PreferenceBatch(
    [property: Id(0)] PreferenceRow[] Rows,
    [property: Id(1)] int BatchPairs,
    [property: Id(2)] PreferenceLossKind Loss,
    [property: Id(3)] double Beta);

/// <summary>Sums over pairs (see Kernels' PreferenceSums): loss, the implicit rewards of chosen and rejected responses, pairs ranked right.</summary>
[GenerateSerializer, Immutable]
public sealed record PairSums(
    [property: Id(0)] double Pairs,
    [property: Id(1)] double Loss,
    [property: Id(2)] double ChosenReward,
    [property: Id(3)] double RejectedReward,
    [property: Id(4)] double Correct)
{
    public static readonly PairSums Zero = new(0, 0, 0, 0, 0);

    public static PairSums operator +(PairSums a, PairSums b) =>
        new(a.Pairs + b.Pairs, a.Loss + b.Loss, a.ChosenReward + b.ChosenReward, a.RejectedReward + b.RejectedReward, a.Correct + b.Correct);

    public double MeanLoss => Pairs == 0 ? 0 : Loss / Pairs;

    /// <summary>The mean of r(chosen) - r(rejected).</summary>
    public double MeanMargin => Pairs == 0 ? 0 : (ChosenReward - RejectedReward) / Pairs;

    /// <summary>The share of pairs whose chosen response has the higher implicit reward.</summary>
    public double Accuracy => Pairs == 0 ? 0 : Correct / Pairs;
}

/// <summary>One replica's gradient of its share of a batch of pairs (flat fp32, already divided by the batch's pairs) and its sums.</summary>
[GenerateSerializer, Immutable]
public sealed record PreferenceShare([property: Id(0)] float[] Gradient, [property: Id(1)] PairSums Sums);

/// <summary>Sequences to score with a model's weights in the store: each prompt with its response.</summary>
[GenerateSerializer, Immutable]
public sealed record SequenceRequest(
    [property: Id(0)] string Model,
    [property: Id(1)] string Weights,
    [property: Id(2)] int[][] Prompts,
    [property: Id(3)] int[][] Responses);
