using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Rl;

public enum RlAlgorithm
{
    /// <summary>PPO with a critic and GAE.</summary>
    Ppo,
    /// <summary>Group-relative outcome advantages, no critic.</summary>
    Grpo,
    /// <summary>Leave-one-out group baselines, no critic.</summary>
    Rloo,
    /// <summary>Whitened discounted returns, no critic.</summary>
    ReinforcePlusPlus,
}

/// <summary>A scored sample: its group (prompt), its outcome score, and per response token its behaviour, reference and value estimates.</summary>
/// <param name="ToolTokens">The response tokens a tool wrote: left out of the KL (their log-probs are no policy's).</param>
/// <param name="TurnRewards">Turn-level rewards per response token (at the token ending the turn that earned each), or null.</param>
public sealed record ScoredSample(string Group, double Score, float[] LogProbs, float[]? RefLogProbs = null, float[]? Values = null, bool[]? ToolTokens = null,
    float[]? TurnRewards = null);

/// <summary>How advantages are estimated: discount, GAE lambda, and the KL penalty folded into the reward (0 for none).</summary>
public sealed record AdvantageOptions(double Gamma = 1.0, double Lambda = 1.0, double KlInRewardCoefficient = 0.0, KlEstimator KlEstimator = KlEstimator.K1, bool GrpoDivideByStd = true);

/// <summary>Per-token advantages (and, for PPO, returns) of one iteration's samples, and the mean KL to the reference.</summary>
public sealed record AdvantageResult(float[][] Advantages, float[][]? Returns, double MeanKl);

/// <summary>
/// Turns one iteration's scored samples into advantages. Token rewards: the outcome score on the last
/// response token, minus beta KL_t on every token when the KL penalty is in the reward. Turn-level rewards
/// are token rewards to the estimators that take them (PPO, REINFORCE++); the group estimators, which see one
/// score per response, get each token's turn rewards-to-go added to its advantage. Runs over the
/// whole iteration at once, because group baselines and whitening are batch statistics.
/// </summary>
public static class AdvantageEstimator
{
    /// <summary>Per-token advantages (and returns, for a critic to fit) from token rewards [B, T] and the response mask.</summary>
    public delegate (Tensor Advantages, Tensor? Returns) Estimate(Tensor rewards, Tensor mask, IReadOnlyList<ScoredSample> samples, AdvantageOptions options);

    /// <summary>
    /// The estimator of each algorithm, in one place (as verl's register_adv_est): a new algorithm adds
    /// its entry here and its name to the job spec's algorithm enum.
    /// </summary>
    public static IReadOnlyDictionary<RlAlgorithm, Estimate> Estimators { get; } = new Dictionary<RlAlgorithm, Estimate>
    {
        [RlAlgorithm.Ppo] = (rewards, mask, samples, options) =>
        {
            if (samples.Any(s => s.Values is null)) throw new ArgumentException("PPO needs the critic's values of every sample");
            var (advantages, returns) = CoreAlgorithms.GaeAdvantagesAndReturns(rewards, Pad(samples.Select(s => s.Values!).ToArray(), (int)mask.shape[1]), mask, options.Gamma, options.Lambda);
            return (advantages, returns);
        },
        [RlAlgorithm.Grpo] = (rewards, mask, samples, options) => (CoreAlgorithms.GrpoAdvantages(rewards, mask, Groups(samples), options.GrpoDivideByStd), null),
        [RlAlgorithm.Rloo] = (rewards, mask, samples, _) => (CoreAlgorithms.RlooAdvantages(rewards, mask, Groups(samples)), null),
        [RlAlgorithm.ReinforcePlusPlus] = (rewards, mask, _, options) => (CoreAlgorithms.ReinforcePlusPlus(rewards, mask, options.Gamma).Advantages, null),
    };

    public static AdvantageResult Compute(RlAlgorithm algorithm, IReadOnlyList<ScoredSample> samples, AdvantageOptions options)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples to estimate advantages for", nameof(samples));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using var one = new Scalars();
        var width = samples.Max(s => s.LogProbs.Length);
        var mask = Pad(samples.Select(s => Enumerable.Repeat(1f, s.LogProbs.Length).ToArray()).ToArray(), width);
        var scores = zeros(samples.Count, width);
        for (var b = 0; b < samples.Count; b++) scores[b, samples[b].LogProbs.Length - 1] = (float)samples[b].Score;

        var meanKl = 0.0;
        var rewards = scores;
        if (samples.All(s => s.RefLogProbs is not null))
        {
            var logProbs = Pad(samples.Select(s => s.LogProbs).ToArray(), width);
            var refLogProbs = Pad(samples.Select(s => s.RefLogProbs!).ToArray(), width);
            // The policy's tokens only: a tool's answer has no sampling log-probs to compare.
            var policy = samples.Any(s => s.ToolTokens is not null)
                ? mask * Pad(samples.Select(s => s.ToolTokens is { } t ? t.Select(x => x ? 1f : 0f).ToArray() : new float[s.LogProbs.Length]).ToArray(), width).neg().add(one[1.0], Scalars.One)
                : mask;
            meanKl = CoreAlgorithms.MaskedMean(CoreAlgorithms.KlPenalty(logProbs, refLogProbs, options.KlEstimator) * policy, policy).item<float>();
            // At a tool's tokens the reference is taken as the sample's own log-probs, so their KL is 0 under every
            // estimator, while the score (at the last token, which may be a tool's in a truncated response) stays.
            var reference = (refLogProbs * policy).add(logProbs * policy.neg().add(one[1.0], Scalars.One), Scalars.One);
            if (options.KlInRewardCoefficient > 0) rewards = CoreAlgorithms.ApplyKlPenalty(scores, logProbs, reference, mask, options.KlInRewardCoefficient, options.KlEstimator);
        }
        else if (options.KlInRewardCoefficient > 0)
        {
            throw new ArgumentException("a KL penalty in the reward needs every sample's reference log-probs");
        }

        if (!Estimators.TryGetValue(algorithm, out var estimate)) throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "no advantage estimator is registered for it");
        var turns = samples.Any(s => s.TurnRewards is not null) ? Pad(samples.Select(s => s.TurnRewards ?? new float[s.LogProbs.Length]).ToArray(), width) : null;
        var tokenLevel = algorithm is RlAlgorithm.Ppo or RlAlgorithm.ReinforcePlusPlus;
        if (turns is not null && tokenLevel) rewards = rewards.add(turns, Scalars.One);
        var (advantages, returns) = estimate(rewards, mask, samples, options);
        if (turns is not null && !tokenLevel) advantages = advantages.add(CoreAlgorithms.RewardsToGo(turns, mask), Scalars.One);
        return new AdvantageResult(Unpad(advantages, samples), returns is null ? null : Unpad(returns, samples), meanKl);
    }

    private static string[] Groups(IReadOnlyList<ScoredSample> samples) => [.. samples.Select(s => s.Group)];

    private static Tensor Pad(float[][] rows, int width)
    {
        var data = new float[rows.Length * width];
        for (var b = 0; b < rows.Length; b++) Array.Copy(rows[b], 0, data, b * width, rows[b].Length);
        return tensor(data).view(rows.Length, width);
    }

    private static float[][] Unpad(Tensor values, IReadOnlyList<ScoredSample> samples)
    {
        var width = (int)values.shape[1];
        var data = values.to(float32).contiguous().data<float>().ToArray();
        return samples.Select((s, b) => data.AsSpan(b * width, s.LogProbs.Length).ToArray()).ToArray();
    }
}
