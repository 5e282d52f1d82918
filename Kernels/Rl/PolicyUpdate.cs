using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Rl;

/// <summary>The actor's loss settings: PPO clipping, the KL-to-reference loss term, an entropy bonus.</summary>
public sealed record ActorLossOptions(
    double ClipLow = 0.2,
    double ClipHigh = 0.2,
    double DualClip = 3.0,
    double KlLossCoefficient = 0.0,
    KlEstimator KlEstimator = KlEstimator.K3,
    double EntropyCoefficient = 0.0,
    double Temperature = 1.0,
    double BehaviourWeightCap = 5.0);

/// <summary>
/// Sums over the tokens of one replica's share of a mini-batch. Every figure is a token-weighted sum,
/// so the shares of all replicas add up, and dividing by the mini-batch's tokens gives its means.
/// <paramref name="BehaviourCut"/>: the tokens decoupled PPO left out, their behaviour weight over its cap.
/// </summary>
public sealed record UpdateSums(double Tokens, double Loss, double ClipFraction, double ApproxKl, double Entropy, double Kl, double BehaviourCut = 0)
{
    public static UpdateSums Zero { get; } = new(0, 0, 0, 0, 0, 0);

    public UpdateSums Add(UpdateSums other) => new(Tokens + other.Tokens, Loss + other.Loss, ClipFraction + other.ClipFraction,
        ApproxKl + other.ApproxKl, Entropy + other.Entropy, Kl + other.Kl, BehaviourCut + other.BehaviourCut);
}

/// <summary>
/// Backward passes of the actor, the critic and the supervised warm start over one replica's share of
/// a mini-batch. Losses are token means over the whole mini-batch: this share's token sum divided by
/// <c>miniBatchTokens</c>, the tokens of all replicas' shares. Summing the replicas' gradients then
/// gives exactly the gradient of one big batch, which is what data parallelism must reproduce.
/// </summary>
public static class PolicyUpdate
{
    /// <summary>
    /// L = sum_t PPO-clip(ratio_t, A_t) / N + c_kl sum_t KL_t / N - c_ent sum_t H_t / N, over this share's
    /// response tokens t, N the mini-batch's tokens; decoupled PPO when every sample has proximal log-probs, its clip
    /// range shrinking with each token's version lag when every sample has them.
    /// </summary>
    public static UpdateSums ActorBackward(Transformer actor, IReadOnlyList<TrainingSample> samples, double miniBatchTokens, ActorLossOptions options)
    {
        using var scope = NewDisposeScope();
        var batch = Batch(actor, samples);
        var (loss, sums) = ActorLoss(actor.Forward(batch.Tokens), batch, samples, miniBatchTokens, options);
        loss.backward();
        return sums;
    }

    /// <summary>L = 0.5 sum_t max((V_t - R_t)^2, (clip(V_t, V_old ± eps) - R_t)^2) / N; Loss is that, ClipFraction the clipped share.</summary>
    public static UpdateSums CriticBackward(Transformer critic, IReadOnlyList<TrainingSample> samples, double miniBatchTokens, double clipRange)
    {
        using var scope = NewDisposeScope();
        var batch = Batch(critic, samples);
        var (loss, sums) = CriticLoss(critic.Forward(batch.Tokens), batch, samples, miniBatchTokens, clipRange);
        loss.backward();
        return sums;
    }

    /// <summary>The rows of <paramref name="samples"/> as one padded batch on <paramref name="model"/>'s device.</summary>
    public static ResponseBatch Batch(Transformer model, IReadOnlyList<TrainingSample> samples) =>
        new(samples.Select(s => (s.Prompt, s.Response)).ToArray(), ResponseScoring.DeviceOf(model));

    /// <summary>
    /// The actor's loss (<see cref="ActorBackward"/>) from its output logits over <paramref name="batch"/>
    /// [B, T, V], already scaled by this share's tokens over N, so that its backward is this share's
    /// part of the mini-batch's gradient; and the share's sums.
    /// </summary>
    public static (Tensor Loss, UpdateSums Sums) ActorLoss(Tensor output, ResponseBatch batch, IReadOnlyList<TrainingSample> samples, double miniBatchTokens, ActorLossOptions options)
    {
        var (logProbs, logits) = ResponseScoring.TokenLogProbs(output, batch, options.Temperature);
        var mask = PolicyMask(batch, samples);
        var tokens = mask.sum().item<float>();
        var share = tokens / miniBatchTokens;

        var behaviour = batch.Pad(samples.Select(s => s.OldLogProbs).ToArray());
        var advantages = batch.Pad(samples.Select(s => s.Advantages).ToArray());
        var proximal = samples.All(s => s.ProximalIsCurrent) ? logProbs.detach()
            : samples.All(s => s.ProximalLogProbs is not null) ? batch.Pad(samples.Select(s => s.ProximalLogProbs!).ToArray()) : null;
        var lags = samples.All(s => s.VersionLags is not null) ? batch.Pad([.. samples.Select(s => s.VersionLags!.Select(l => (float)l).ToArray())]) : null;
        var policy = proximal is not null
            ? CoreAlgorithms.DecoupledPpoPolicyLoss(logProbs, proximal, behaviour, advantages, mask, options.ClipLow, options.ClipHigh, options.DualClip, options.BehaviourWeightCap,
                versionLags: lags)
            : CoreAlgorithms.PpoPolicyLoss(logProbs, behaviour, advantages, mask, options.ClipLow, options.ClipHigh, options.DualClip);
        using var s = new Scalars();
        var entropy = CoreAlgorithms.MaskedMean(CoreAlgorithms.Entropy(logits), mask);
        var loss = policy.Loss - entropy.mul(s[options.EntropyCoefficient]);

        var kl = 0.0;
        if (samples.All(s => s.RefLogProbs is not null))
        {
            var klMean = CoreAlgorithms.MaskedMean(CoreAlgorithms.KlPenalty(logProbs, batch.Pad(samples.Select(s => s.RefLogProbs!).ToArray()), options.KlEstimator), mask);
            if (options.KlLossCoefficient > 0) loss = loss.add(klMean.mul(s[options.KlLossCoefficient]), Scalars.One);
            kl = klMean.item<float>();
        }
        else if (options.KlLossCoefficient > 0)
        {
            throw new ArgumentException("a KL loss term needs every sample's reference log-probs");
        }
        return (loss.mul(s[share]), new UpdateSums(tokens, loss.item<float>() * tokens, policy.ClipFraction.item<float>() * tokens,
            policy.ApproxKl.item<float>() * tokens, entropy.item<float>() * tokens, kl * tokens, (policy.BehaviourCutFraction?.item<float>() ?? 0) * tokens));
    }

    /// <summary>The critic's loss (<see cref="CriticBackward"/>) from its scalar-head output over <paramref name="batch"/> [B, T], scaled by this share's tokens over N; and the share's sums.</summary>
    public static (Tensor Loss, UpdateSums Sums) CriticLoss(Tensor output, ResponseBatch batch, IReadOnlyList<TrainingSample> samples, double miniBatchTokens, double clipRange)
    {
        if (samples.Any(s => s.OldValues is null || s.Returns is null)) throw new ArgumentException("the critic needs every sample's old values and returns");
        var values = batch.AtResponse(output);
        var mask = PolicyMask(batch, samples);
        var tokens = mask.sum().item<float>();
        var (loss, clipFraction) = CoreAlgorithms.ClippedValueLoss(values, batch.Pad(samples.Select(s => s.OldValues!).ToArray()),
            batch.Pad(samples.Select(s => s.Returns!).ToArray()), mask, clipRange);
        using var s = new Scalars();
        return (loss.mul(s[tokens / miniBatchTokens]), UpdateSums.Zero with { Tokens = tokens, Loss = loss.item<float>() * tokens, ClipFraction = clipFraction.item<float>() * tokens });
    }

    /// <summary>The batch's response mask without the tokens a tool wrote (<see cref="TrainingSample.ToolTokens"/>).</summary>
    public static Tensor PolicyMask(ResponseBatch batch, IReadOnlyList<TrainingSample> samples)
    {
        if (samples.All(s => s.ToolTokens is null)) return batch.Mask;
        var tool = batch.Pad([.. samples.Select(s => s.ToolTokens is { } t ? t.Select(x => x ? 1f : 0f).ToArray() : new float[s.Response.Length])]);
        return batch.Mask * (1 - tool);
    }

    /// <summary>Supervised warm start: L = -sum_t log p(answer token t) / N.</summary>
    public static UpdateSums SupervisedBackward(Transformer model, IReadOnlyList<(int[] Prompt, int[] Answer)> rows, double miniBatchTokens)
    {
        using var scope = NewDisposeScope();
        var batch = new ResponseBatch(rows, ResponseScoring.DeviceOf(model));
        var (logProbs, _) = ResponseScoring.TokenLogProbs(model, batch, 1.0);
        using var s = new Scalars();
        var sum = -(logProbs * batch.Mask).sum();
        sum.div(s[miniBatchTokens]).backward();
        return UpdateSums.Zero with { Tokens = batch.Mask.sum().item<float>(), Loss = sum.item<float>() };
    }
}
