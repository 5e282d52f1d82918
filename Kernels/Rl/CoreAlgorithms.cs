using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Rl;

/// <summary>How per-token losses become one number.</summary>
public enum LossAggregation
{
    /// <summary>Mean over every unmasked token of the batch.</summary>
    TokenMean,
    /// <summary>Sum over each sequence's tokens, then mean over sequences.</summary>
    SeqMeanTokenSum,
    /// <summary>Mean over each sequence's tokens, then mean over sequences.</summary>
    SeqMeanTokenMean,
}

/// <summary>Estimators of KL(policy || reference) per token, from the two log-probs.</summary>
public enum KlEstimator
{
    /// <summary>k1 = log p - log q.</summary>
    K1,
    /// <summary>|log p - log q|.</summary>
    Abs,
    /// <summary>k2 = 0.5 (log p - log q)^2.</summary>
    K2,
    /// <summary>k3 (low variance) = exp(log q - log p) - (log q - log p) - 1, log-ratio clamped to ±20, result to ±10.</summary>
    K3,
}

/// <summary>
/// The RL formulas, one function each, on [batch, response length] tensors masked by the response
/// mask (1 for response tokens, 0 for padding). They follow the widely used open-source
/// implementations (verl's core algorithms, TRL's DPO) so that results can be compared. Tensors are added
/// with <c>add(x, Scalars.One)</c>, never <c>+</c>: TorchSharp's <c>a + b</c> is <c>add(b, 1)</c> with a fresh
/// Scalar alpha that a collection can free while libtorch reads it (see <see cref="Scalars.One"/>).
/// </summary>
public static class CoreAlgorithms
{
    /// <summary>mean(x | mask) = sum(x * mask) / sum(mask), over all dimensions.</summary>
    public static Tensor MaskedMean(Tensor values, Tensor mask) => (values * mask).sum() / mask.sum();

    /// <summary>Per sequence: sum_t(x * mask) / sum_t(mask), [batch].</summary>
    public static Tensor MaskedMeanPerSequence(Tensor values, Tensor mask) => (values * mask).sum(1) / mask.sum(1);

    /// <summary>Unbiased masked variance: sum(mask (x - mean)^2) / (sum(mask) - 1).</summary>
    public static Tensor MaskedVariance(Tensor values, Tensor mask)
    {
        using var s = new Scalars();
        var centered = values - MaskedMean(values, mask);
        var count = mask.sum();
        return (centered.pow(Scalars.Two) * mask).sum() / count.sub(s[1]);
    }

    /// <summary>whiten(x) = (x - mean) / sqrt(var + 1e-8) over the unmasked entries; the mean is added back when shiftMean is false.</summary>
    public static Tensor MaskedWhiten(Tensor values, Tensor mask, bool shiftMean = true)
    {
        using var s = new Scalars();
        var mean = MaskedMean(values, mask);
        var whitened = (values - mean) * MaskedVariance(values, mask).add(s[1e-8], Scalars.One).rsqrt();
        return shiftMean ? whitened : whitened.add(mean, Scalars.One);
    }

    /// <summary>
    /// Generalised advantage estimation. Backwards over t:
    ///   delta_t = r_t + gamma V_{t+1} - V_t,  A_t = delta_t + gamma lambda A_{t+1},
    /// where "t+1" is the next unmasked token (masked tokens carry V and A through unchanged).
    /// returns = A + V; the advantages are then whitened over the mask (when whiten is true).
    /// </summary>
    public static (Tensor Advantages, Tensor Returns) GaeAdvantagesAndReturns(
        Tensor rewards, Tensor values, Tensor mask, double gamma, double lambda, bool whiten = true)
    {
        using var _ = no_grad();
        using var s = new Scalars();
        var (g, gl) = (s[gamma], s[gamma * lambda]);
        var length = rewards.shape[1];
        var nextValue = zeros_like(rewards.select(1, 0));
        var lastAdvantage = zeros_like(nextValue);
        var reversed = new List<Tensor>();
        for (var t = length - 1; t >= 0; t--)
        {
            var (r, v, m) = (rewards.select(1, t), values.select(1, t), mask.select(1, t));
            var delta = r.add(nextValue.mul(g), Scalars.One) - v;
            var advantage = delta.add(lastAdvantage.mul(gl), Scalars.One);
            var keep = ones_like(m) - m;
            nextValue = (v * m).add(keep * nextValue, Scalars.One);
            lastAdvantage = (advantage * m).add(keep * lastAdvantage, Scalars.One);
            reversed.Add(lastAdvantage);
        }
        reversed.Reverse();
        var advantages = stack(reversed, dim: 1);
        var returns = advantages.add(values, Scalars.One);
        return (whiten ? MaskedWhiten(advantages, mask) * mask : advantages * mask, returns * mask);
    }

    /// <summary>
    /// GRPO outcome advantage: each response's score s (the sum of its token rewards) against its group
    /// (the responses to the same prompt): A = (s - mean_g) / (std_g + 1e-6), or s - mean_g without the
    /// division; std is the unbiased one. A group of one has no baseline and gets 0. Broadcast over the
    /// response tokens.
    /// </summary>
    public static Tensor GrpoAdvantages(Tensor tokenRewards, Tensor mask, IReadOnlyList<string> groups, bool divideByStd = true)
    {
        var scores = tokenRewards.sum(1).to(float64).cpu().data<double>().ToArray();
        var advantages = new double[scores.Length];
        foreach (var members in GroupIndices(groups))
        {
            if (members.Length == 1) continue;
            var mean = members.Average(i => scores[i]);
            var std = Math.Sqrt(members.Sum(i => (scores[i] - mean) * (scores[i] - mean)) / (members.Length - 1));
            foreach (var i in members) advantages[i] = divideByStd ? (scores[i] - mean) / (std + 1e-6) : scores[i] - mean;
        }
        return Broadcast(advantages, mask);
    }

    /// <summary>
    /// Rewards-to-go of token rewards, undiscounted: G_t = sum_{t' >= t} r_{t'}, 0 past the mask. Added to a
    /// group-relative advantage, a turn-level reward credits the tokens up to the turn that earned it, not those after.
    /// </summary>
    public static Tensor RewardsToGo(Tensor tokenRewards, Tensor mask) => (tokenRewards * mask).flip(1).cumsum(1).flip(1) * mask;

    /// <summary>
    /// RLOO: each response's score against the mean of the other n - 1 in its group,
    /// A_i = s_i - (sum_g - s_i) / (n - 1) = n / (n - 1) (s_i - mean_g). A group of one gets 0.
    /// </summary>
    public static Tensor RlooAdvantages(Tensor tokenRewards, Tensor mask, IReadOnlyList<string> groups)
    {
        var scores = tokenRewards.sum(1).to(float64).cpu().data<double>().ToArray();
        var advantages = new double[scores.Length];
        foreach (var members in GroupIndices(groups))
        {
            if (members.Length == 1) continue;
            var n = members.Length;
            var mean = members.Average(i => scores[i]);
            foreach (var i in members) advantages[i] = n / (n - 1.0) * (scores[i] - mean);
        }
        return Broadcast(advantages, mask);
    }

    /// <summary>
    /// REINFORCE++: discounted returns G_t = r_t + gamma G_{t+1} (reset past the mask), whitened over
    /// the batch's unmasked tokens; returns (advantages, returns).
    /// </summary>
    public static (Tensor Advantages, Tensor Returns) ReinforcePlusPlus(Tensor tokenRewards, Tensor mask, double gamma)
    {
        using var _ = no_grad();
        using var s = new Scalars();
        var g = s[gamma];
        var running = zeros_like(tokenRewards.select(1, 0));
        var reversed = new List<Tensor>();
        for (var t = tokenRewards.shape[1] - 1; t >= 0; t--)
        {
            running = tokenRewards.select(1, t).add(running.mul(g), Scalars.One);
            reversed.Add(running);
            running = running * mask.select(1, t);
        }
        reversed.Reverse();
        var returns = stack(reversed, dim: 1);
        return (MaskedWhiten(returns, mask) * mask, returns);
    }

    /// <summary>
    /// PPO clipped policy loss with separate clip ranges and dual clip. ratio = exp(clamp(log pi - log pi_old, ±20));
    /// L = max(-A ratio, -A clamp(ratio, 1 - eps_low, 1 + eps_high)); for A &lt; 0 further L = min(L, -A c)
    /// (dual clip, c &gt; 1). Also returns the clip fraction, the approximate KL mean(log pi_old - log pi)
    /// and the fraction cut by the dual clip.
    /// </summary>
    public static PolicyLoss PpoPolicyLoss(
        Tensor logProbs, Tensor oldLogProbs, Tensor advantages, Tensor mask,
        double clipLow = 0.2, double clipHigh = 0.2, double dualClip = 3.0, LossAggregation aggregation = LossAggregation.TokenMean)
    {
        var clip = PpoClipTokenLosses(logProbs, oldLogProbs, advantages, clipLow, clipHigh, dualClip);
        return new PolicyLoss(Aggregate(clip.Losses, mask, aggregation), MaskedMean(clip.Clipped, mask), MaskedMean(-clip.LogRatio, mask), MaskedMean(clip.DualClipped, mask));
    }

    /// <summary>
    /// Decoupled PPO (Hilton et al. 2022; AReaL's objective for stale samples): the proximal policy
    /// pi_prox (the trainer's weights before this step's updates) takes the old policy's place in the
    /// clipping, and the behaviour policy pi_behav (the weights that sampled the tokens, possibly versions
    /// older) only weights each token:
    ///   u_t = pi / pi_prox = exp(clamp(log pi - log pi_prox, ±20)),   L_t = PPO-clip(u_t, A_t) as in <see cref="PpoPolicyLoss"/>,
    ///   w_t = pi_prox / pi_behav = exp(clamp(log pi_prox - log pi_behav, ±20)),
    ///   L = agg(w_t [w_t &lt;= cap] L_t) over the mask (a token whose weight passes the cap counts as 0).
    /// With <paramref name="versionLags"/> (l_t: how many versions the proximal policy is ahead of the one that
    /// sampled token t) the clip range shrinks with the lag, as staleness-aware asynchronous SGD divides the
    /// learning rate by the staleness (Zhang et al. 2016): eps_t = eps / (1 + l_t). A token l versions old
    /// has l + 1 updates in flight that its gradient's direction already pushed, so each gets its share of one step.
    /// When behaviour and proximal policies are the same, w = 1 and this is PPO. Also returns the clip
    /// fraction, mean(log pi_prox - log pi), the dual-clip fraction and the share of tokens cut by the cap.
    /// </summary>
    public static PolicyLoss DecoupledPpoPolicyLoss(
        Tensor logProbs, Tensor proximalLogProbs, Tensor behaviourLogProbs, Tensor advantages, Tensor mask,
        double clipLow = 0.2, double clipHigh = 0.2, double dualClip = 3.0, double behaviourWeightCap = 5.0, LossAggregation aggregation = LossAggregation.TokenMean,
        Tensor? versionLags = null)
    {
        if (behaviourWeightCap <= 1) throw new ArgumentOutOfRangeException(nameof(behaviourWeightCap), behaviourWeightCap, "the behaviour weight cap must be greater than 1");
        using var s = new Scalars();
        var clip = PpoClipTokenLosses(logProbs, proximalLogProbs, advantages, clipLow, clipHigh, dualClip,
            versionLags is null ? null : versionLags.to(logProbs.dtype).add(s[1.0], Scalars.One).reciprocal());
        var weight = (proximalLogProbs - behaviourLogProbs).clamp(s[-20.0], s[20.0]).exp().detach();
        var kept = weight.le(s[behaviourWeightCap]).to(weight.dtype);
        return new PolicyLoss(Aggregate(clip.Losses * weight * kept, mask, aggregation), MaskedMean(clip.Clipped, mask), MaskedMean(-clip.LogRatio, mask),
            MaskedMean(clip.DualClipped, mask), MaskedMean(kept.neg().add(s[1.0], Scalars.One), mask));
    }

    /// <summary>
    /// The per-token PPO clipped loss against a policy <paramref name="anchorLogProbs"/>: ratio = exp(clamp(log pi - log anchor, ±20)),
    /// L = max(-A ratio, -A clamp(ratio, 1 - eps_low, 1 + eps_high)), and for A &lt; 0 L = min(L, -A c);
    /// with the log-ratio and where the clip and the dual clip acted (1 or 0). A per-token <paramref name="clipScale"/>
    /// multiplies both clip ranges.
    /// </summary>
    private static (Tensor Losses, Tensor LogRatio, Tensor Clipped, Tensor DualClipped) PpoClipTokenLosses(
        Tensor logProbs, Tensor anchorLogProbs, Tensor advantages, double clipLow, double clipHigh, double dualClip, Tensor? clipScale = null)
    {
        if (dualClip <= 1) throw new ArgumentOutOfRangeException(nameof(dualClip), dualClip, "the dual-clip constant must be greater than 1");
        using var s = new Scalars();
        var logRatio = (logProbs - anchorLogProbs).clamp(s[-20.0], s[20.0]);
        var ratio = logRatio.exp();
        var unclipped = -advantages * ratio;
        var clippedRatio = clipScale is null ? ratio.clamp(s[1 - clipLow], s[1 + clipHigh])
            : minimum(maximum(ratio, clipScale.mul(s[-clipLow]).add(s[1.0], Scalars.One)), clipScale.mul(s[clipHigh]).add(s[1.0], Scalars.One));
        var clipped = -advantages * clippedRatio;
        var clippedMax = maximum(unclipped, clipped);
        var dual = (-advantages).mul(s[dualClip]);
        var negative = advantages.lt(s[0]);
        return (where(negative, minimum(dual, clippedMax), clippedMax), logRatio,
            (clipped > unclipped).to(float32), ((clippedMax > dual).logical_and(negative)).to(float32));
    }

    /// <summary>
    /// Clipped value loss: V_clip = clamp(V, V_old - eps, V_old + eps);
    /// L = 0.5 agg(max((V - R)^2, (V_clip - R)^2)); also the fraction where the clipped term won.
    /// </summary>
    public static (Tensor Loss, Tensor ClipFraction) ClippedValueLoss(
        Tensor values, Tensor oldValues, Tensor returns, Tensor mask, double clipRange = 0.2, LossAggregation aggregation = LossAggregation.TokenMean)
    {
        using var s = new Scalars();
        var clippedValues = values.clamp(oldValues.sub(s[clipRange]), oldValues.add(s[clipRange], Scalars.One));
        var unclippedLoss = (values - returns).pow(Scalars.Two);
        var clippedLoss = (clippedValues - returns).pow(Scalars.Two);
        return (Aggregate(maximum(unclippedLoss, clippedLoss), mask, aggregation).mul(s[0.5]),
            MaskedMean((clippedLoss > unclippedLoss).to(float32), mask));
    }

    /// <summary>Per-token KL estimate between the policy (log p) and the reference (log q); see <see cref="KlEstimator"/>.</summary>
    public static Tensor KlPenalty(Tensor logProbs, Tensor refLogProbs, KlEstimator estimator)
    {
        using var s = new Scalars();
        var logRatio = logProbs - refLogProbs;
        switch (estimator)
        {
            case KlEstimator.K1: return logRatio;
            case KlEstimator.Abs: return logRatio.abs();
            case KlEstimator.K2: return logRatio.pow(Scalars.Two).mul(s[0.5]);
            case KlEstimator.K3:
                var reverse = (refLogProbs - logProbs).clamp(s[-20.0], s[20.0]);
                return (reverse.exp() - reverse).sub(s[1]).clamp(s[-10.0], s[10.0]);
            default: throw new ArgumentOutOfRangeException(nameof(estimator), estimator, "unknown KL estimator");
        }
    }

    /// <summary>KL in the reward: r_t = score_t - beta KL_t, masked.</summary>
    public static Tensor ApplyKlPenalty(Tensor tokenScores, Tensor logProbs, Tensor refLogProbs, Tensor mask, double beta, KlEstimator estimator)
    {
        using var s = new Scalars();
        return (tokenScores - KlPenalty(logProbs, refLogProbs, estimator).mul(s[beta])) * mask;
    }

    /// <summary>Token-mean, seq-mean-token-sum or seq-mean-token-mean of per-token losses (see <see cref="LossAggregation"/>).</summary>
    public static Tensor Aggregate(Tensor losses, Tensor mask, LossAggregation aggregation) => aggregation switch
    {
        LossAggregation.TokenMean => MaskedMean(losses, mask),
        LossAggregation.SeqMeanTokenSum => (losses * mask).sum(1).mean(),
        LossAggregation.SeqMeanTokenMean => MaskedMeanPerSequence(losses, mask).mean(),
        _ => throw new ArgumentOutOfRangeException(nameof(aggregation), aggregation, "unknown loss aggregation"),
    };

    /// <summary>Entropy of the categorical distribution of each row of logits: H = logsumexp(z) - sum(softmax(z) z).</summary>
    public static Tensor Entropy(Tensor logits) => logits.logsumexp(-1) - (logits.softmax(-1) * logits).sum(-1);

    /// <summary>
    /// DPO (sigmoid) loss over preference pairs, from summed sequence log-probs:
    /// z = beta ((log pi(y_w) - log pi(y_l)) - (log ref(y_w) - log ref(y_l))), L = -mean(log sigmoid(z)).
    /// Also the implicit rewards beta (log pi - log ref) of the chosen and rejected responses.
    /// </summary>
    public static (Tensor Loss, Tensor ChosenRewards, Tensor RejectedRewards) DpoLoss(
        Tensor chosenLogProbs, Tensor rejectedLogProbs, Tensor refChosenLogProbs, Tensor refRejectedLogProbs, double beta = 0.1)
    {
        using var s = new Scalars();
        var z = ((chosenLogProbs - rejectedLogProbs) - (refChosenLogProbs - refRejectedLogProbs)).mul(s[beta]);
        return (-nn.functional.logsigmoid(z).mean(),
            (chosenLogProbs - refChosenLogProbs).mul(s[beta]).detach(),
            (rejectedLogProbs - refRejectedLogProbs).mul(s[beta]).detach());
    }

    /// <summary>
    /// IPO loss (Azar et al., 2023) over preference pairs, from sequence log-probs (IPO averages them over a
    /// response's tokens): h = (log pi(y_w) - log pi(y_l)) - (log ref(y_w) - log ref(y_l)),
    /// L = mean((h - 1 / (2 tau))^2): the log-ratio margin is regressed to 1 / (2 tau) instead of pushed without
    /// bound, so a preference the data always shows does not drive the policy away from the reference.
    /// </summary>
    public static Tensor IpoLoss(Tensor chosenLogProbs, Tensor rejectedLogProbs, Tensor refChosenLogProbs, Tensor refRejectedLogProbs, double tau = 0.1)
    {
        using var s = new Scalars();
        var h = (chosenLogProbs - rejectedLogProbs) - (refChosenLogProbs - refRejectedLogProbs);
        return h.sub(s[1 / (2 * tau)]).pow(s[2]).mean();
    }

    private static IEnumerable<int[]> GroupIndices(IReadOnlyList<string> groups) =>
        groups.Select((g, i) => (g, i)).GroupBy(p => p.g).Select(g => g.Select(p => p.i).ToArray());

    private static Tensor Broadcast(double[] perSequence, Tensor mask) =>
        tensor(perSequence, device: mask.device).to(mask.dtype).unsqueeze(1) * mask;
}

/// <summary>The PPO policy loss and its diagnostics; <paramref name="BehaviourCutFraction"/> is the decoupled loss's share of tokens over the behaviour weight's cap.</summary>
public sealed record PolicyLoss(Tensor Loss, Tensor ClipFraction, Tensor ApproxKl, Tensor DualClipFraction, Tensor? BehaviourCutFraction = null);
