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
public sealed record ScoredSample(string Group, double Score, float[] LogProbs, float[]? RefLogProbs = null, float[]? Values = null);

/// <summary>How advantages are estimated: discount, GAE lambda, and the KL penalty folded into the reward (0 for none).</summary>
public sealed record AdvantageOptions(double Gamma = 1.0, double Lambda = 1.0, double KlInRewardCoefficient = 0.0, KlEstimator KlEstimator = KlEstimator.K1, bool GrpoDivideByStd = true);

/// <summary>Per-token advantages (and, for PPO, returns) of one iteration's samples, and the mean KL to the reference.</summary>
public sealed record AdvantageResult(float[][] Advantages, float[][]? Returns, double MeanKl);

/// <summary>
/// Turns one iteration's scored samples into advantages. Token rewards: the outcome score on the last
/// response token, minus beta KL_t on every token when the KL penalty is in the reward. Runs over the
/// whole iteration at once, because group baselines and whitening are batch statistics.
/// </summary>
public static class AdvantageEstimator
{
    public static AdvantageResult Compute(RlAlgorithm algorithm, IReadOnlyList<ScoredSample> samples, AdvantageOptions options)
    {
        if (samples.Count == 0) throw new ArgumentException("no samples to estimate advantages for", nameof(samples));
        using var scope = NewDisposeScope();
        using var _ = no_grad();
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
            var kl = CoreAlgorithms.KlPenalty(logProbs, refLogProbs, options.KlEstimator) * mask;
            meanKl = CoreAlgorithms.MaskedMean(kl, mask).item<float>();
            using var s = new Scalars();
            if (options.KlInRewardCoefficient > 0) rewards = scores - kl.mul(s[options.KlInRewardCoefficient]);
        }
        else if (options.KlInRewardCoefficient > 0)
        {
            throw new ArgumentException("a KL penalty in the reward needs every sample's reference log-probs");
        }

        var groups = samples.Select(s => s.Group).ToArray();
        Tensor advantages;
        Tensor? returns = null;
        switch (algorithm)
        {
            case RlAlgorithm.Ppo:
                if (samples.Any(s => s.Values is null)) throw new ArgumentException("PPO needs the critic's values of every sample");
                (advantages, returns) = CoreAlgorithms.GaeAdvantagesAndReturns(rewards, Pad(samples.Select(s => s.Values!).ToArray(), width), mask, options.Gamma, options.Lambda);
                break;
            case RlAlgorithm.Grpo:
                advantages = CoreAlgorithms.GrpoAdvantages(rewards, mask, groups, options.GrpoDivideByStd);
                break;
            case RlAlgorithm.Rloo:
                advantages = CoreAlgorithms.RlooAdvantages(rewards, mask, groups);
                break;
            case RlAlgorithm.ReinforcePlusPlus:
                advantages = CoreAlgorithms.ReinforcePlusPlus(rewards, mask, options.Gamma).Advantages;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, "unknown algorithm");
        }
        return new AdvantageResult(Unpad(advantages, samples), returns is null ? null : Unpad(returns, samples), meanKl);
    }

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
