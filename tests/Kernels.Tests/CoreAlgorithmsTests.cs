using Kernels.Rl;
using static TorchSharp.torch;

namespace Kernels.Tests;

/// <summary>Each formula against values worked out by hand (the arithmetic is in the comments).</summary>
public sealed class CoreAlgorithmsTests
{
    private static Tensor T(params float[][] rows) => stack(rows.Select(r => tensor(r)).ToArray());
    private static float[] Row(Tensor t, int i = 0) => t[i].data<float>().ToArray();
    private static void Close(float[] actual, params double[] expected) =>
        actual.Select(a => (double)a).Should().Equal(expected, (a, e) => Math.Abs(a - e) < 1e-5);

    [Fact]
    public void Rewards_to_go_sum_each_tokens_later_rewards_inside_the_mask()
    {
        using var scope = NewDisposeScope();
        // r = [0, -0.2, 0, 0.5] with the last token masked out: G = [-0.2, -0.2, 0, 0];
        // r = [0.1, 0, 0.3, 0]: G = [0.4, 0.3, 0.3, 0].
        var toGo = CoreAlgorithms.RewardsToGo(T([0f, -0.2f, 0f, 0.5f], [0.1f, 0f, 0.3f, 0f]), T([1f, 1f, 1f, 0f], [1f, 1f, 1f, 1f]));
        Close(Row(toGo, 0), -0.2, -0.2, 0, 0);
        Close(Row(toGo, 1), 0.4, 0.3, 0.3, 0);
    }

    [Fact]
    public void A_turn_reward_credits_the_tokens_up_to_its_turn_for_group_and_token_level_estimators()
    {
        // Two responses to one prompt, scores 1 and 0, the first's call closing at token 1 failed (turn reward -0.2).
        ScoredSample[] samples =
        [
            new("g", 1, [-1f, -1f, -1f, -1f], Values: [0f, 0f, 0f, 0f], TurnRewards: [0f, -0.2f, 0f, 0f]),
            new("g", 0, [-1f, -1f, -1f, -1f], Values: [0f, 0f, 0f, 0f]),
        ];
        // GRPO: outcome advantages (1 - 0.5) / std([1, 0]) = 0.5 / 0.70711 = 0.70711 and -0.70711, then the first
        // response's tokens 0-1 gain the rewards-to-go -0.2: [0.50711, 0.50711, 0.70711, 0.70711].
        var grpo = AdvantageEstimator.Compute(RlAlgorithm.Grpo, samples, new AdvantageOptions());
        Close(grpo.Advantages[0], 0.50711, 0.50711, 0.70711, 0.70711);
        Close(grpo.Advantages[1], -0.70711, -0.70711, -0.70711, -0.70711);
        // PPO with gamma = lambda = 1 and values 0: A_t = the rewards from t on: [1 - 0.2, 1 - 0.2, 1, 1].
        var ppo = AdvantageEstimator.Compute(RlAlgorithm.Ppo, samples, new AdvantageOptions());
        Close(ppo.Returns![0], 0.8, 0.8, 1, 1);
        Close(ppo.Returns![1], 0, 0, 0, 0);
    }

    [Fact]
    public void Gae_without_whitening()
    {
        using var scope = NewDisposeScope();
        // gamma 0.9, lambda 0.8, V = [0.5, 0.6, 0.7], r = [0, 0, 1]:
        // t2: delta = 1 - 0.7 = 0.3; t1: delta = 0.9*0.7 - 0.6 = 0.03, A = 0.03 + 0.72*0.3 = 0.246;
        // t0: delta = 0.9*0.6 - 0.5 = 0.04, A = 0.04 + 0.72*0.246 = 0.21712. Returns = A + V.
        var (advantages, returns) = CoreAlgorithms.GaeAdvantagesAndReturns(T([0, 0, 1]), T([0.5f, 0.6f, 0.7f]), T([1, 1, 1]), 0.9, 0.8, whiten: false);

        Close(Row(advantages), 0.21712, 0.246, 0.3);
        Close(Row(returns), 0.71712, 0.846, 1.0);
    }

    [Fact]
    public void Gae_skips_masked_tokens()
    {
        using var scope = NewDisposeScope();
        // Mask [1, 0, 1]: t0 looks through t1 to V_2 = 0.7: delta = 0.9*0.7 - 0.5 = 0.13, A = 0.13 + 0.72*0.3 = 0.346.
        var (advantages, _) = CoreAlgorithms.GaeAdvantagesAndReturns(T([0, 0, 1]), T([0.5f, 0.6f, 0.7f]), T([1, 0, 1]), 0.9, 0.8, whiten: false);

        Close(Row(advantages), 0.346, 0, 0.3);
    }

    [Fact]
    public void Masked_whitening_uses_only_unmasked_entries()
    {
        using var scope = NewDisposeScope();
        // Unmasked 1, 2, 3: mean 2, unbiased variance 1 -> -1, 0, 1; the masked 100 is ignored.
        var whitened = CoreAlgorithms.MaskedWhiten(T([1, 2, 100], [3, 0, 0]), T([1, 1, 0], [1, 0, 0]));
        var unshifted = CoreAlgorithms.MaskedWhiten(T([1, 2, 3]), T([1, 1, 1]), shiftMean: false);

        Close([Row(whitened)[0], Row(whitened)[1], Row(whitened, 1)[0]], -1, 0, 1);
        Close(Row(unshifted), 1, 2, 3);
    }

    [Fact]
    public void Grpo_normalises_within_each_group_and_a_group_of_one_gets_zero()
    {
        using var scope = NewDisposeScope();
        // Group a scores 1, 0, 1: mean 2/3, unbiased std sqrt(1/3) = 0.57735 -> (1/3)/0.57735 = 0.57735, -1.15470.
        var rewards = T([0, 1], [0, 0], [1, 0], [0, 0.5f]);
        var mask = T([1, 1], [1, 1], [1, 1], [1, 1]);
        string[] groups = ["a", "a", "a", "b"];

        var normalised = CoreAlgorithms.GrpoAdvantages(rewards, mask, groups);
        var centred = CoreAlgorithms.GrpoAdvantages(rewards, mask, groups, divideByStd: false);

        Close(normalised.select(1, 0).data<float>().ToArray(), 0.577349, -1.154698, 0.577349, 0);
        Close(centred.select(1, 1).data<float>().ToArray(), 1 / 3.0, -2 / 3.0, 1 / 3.0, 0);
    }

    [Fact]
    public void Rloo_uses_the_mean_of_the_others()
    {
        using var scope = NewDisposeScope();
        // 1 - (0+1)/2 = 0.5, 0 - (1+1)/2 = -1; masked token stays 0.
        var advantages = CoreAlgorithms.RlooAdvantages(T([1, 0], [0, 0], [1, 0], [7, 0]), T([1, 0], [1, 1], [1, 1], [1, 1]), ["g", "g", "g", "solo"]);

        Close(advantages.select(1, 0).data<float>().ToArray(), 0.5, -1, 0.5, 0);
        Row(advantages)[1].Should().Be(0);
    }

    [Fact]
    public void Reinforce_plus_plus_discounts_and_resets_at_the_mask()
    {
        using var scope = NewDisposeScope();
        // gamma 0.5: [0, 0, 1] -> 0.25, 0.5, 1; [0, 2, | 0] -> 1, 2, 0.
        var (advantages, returns) = CoreAlgorithms.ReinforcePlusPlus(T([0, 0, 1], [0, 2, 0]), T([1, 1, 1], [1, 1, 0]), 0.5);

        Close(Row(returns), 0.25, 0.5, 1);
        Close(Row(returns, 1).Take(2).ToArray(), 1, 2);
        // Whitened over the five unmasked returns 0.25, 0.5, 1, 1, 2 (mean 0.95).
        CoreAlgorithms.MaskedMean(advantages, T([1, 1, 1], [1, 1, 0])).item<float>().Should().BeApproximately(0, 1e-6f);
        Row(advantages, 1)[2].Should().Be(0);
    }

    [Fact]
    public void Ppo_policy_loss_clips_each_side_and_dual_clips_negative_advantages()
    {
        using var scope = NewDisposeScope();
        // eps_low 0.2, eps_high 0.3, c = 3. ratio, A -> loss:
        // 1.5, +1 -> max(-1.5, -1.3) = -1.3 (clipped); 0.5, -1 -> max(0.5, 0.8) = 0.8 (clipped);
        // 1.1, -2 -> 2.2; 10, -1 -> min(3, max(10, 1.3)) = 3 (dual clip). Mean 1.175; clip fraction 0.5.
        var ratio = T([1.5f, 0.5f, 1.1f, 10f]);
        var policy = CoreAlgorithms.PpoPolicyLoss(ratio.log(), zeros_like(ratio), T([1, -1, -2, -1]), ones_like(ratio), clipLow: 0.2, clipHigh: 0.3, dualClip: 3);

        policy.Loss.item<float>().Should().BeApproximately(1.175f, 1e-5f);
        policy.ClipFraction.item<float>().Should().Be(0.5f);
        policy.DualClipFraction.item<float>().Should().Be(0.25f);
        policy.ApproxKl.item<float>().Should().BeApproximately(-0.5275533f, 1e-5f); // mean(-log ratio)
    }

    [Fact]
    public void Decoupled_ppo_clips_against_the_proximal_policy_and_weights_by_the_behaviour_one()
    {
        using var scope = NewDisposeScope();
        // u = pi / pi_prox = 1.5, 0.5, 1.1, 1.0 with A = 1, -1, -2, 1 (clip 0.2 / 0.3, dual 3):
        // PPO terms -1.3 (clipped), 0.8 (clipped), 2.2, -1. Behaviour weights w = pi_prox / pi_behav = 2, 0.5,
        // 1.5, 8: the last is over the cap 5 and counts 0. Mean of w L = (-2.6 + 0.4 + 3.3 + 0) / 4 = 0.275.
        var u = T([1.5f, 0.5f, 1.1f, 1.0f]);
        var proximal = T([-1f, -2f, -0.5f, -3f]);
        var weights = T([2f, 0.5f, 1.5f, 8f]);
        var policy = CoreAlgorithms.DecoupledPpoPolicyLoss(proximal + u.log(), proximal, proximal - weights.log(), T([1, -1, -2, 1]), ones_like(u),
            clipLow: 0.2, clipHigh: 0.3, dualClip: 3, behaviourWeightCap: 5);

        policy.Loss.item<float>().Should().BeApproximately(0.275f, 1e-5f);
        policy.ClipFraction.item<float>().Should().Be(0.5f);
        policy.BehaviourCutFraction!.item<float>().Should().Be(0.25f);
        policy.ApproxKl.item<float>().Should().BeApproximately(-(MathF.Log(1.5f) + MathF.Log(0.5f) + MathF.Log(1.1f)) / 4, 1e-5f);
    }

    [Fact]
    public void Decoupled_ppo_shrinks_each_tokens_clip_range_by_its_version_lag()
    {
        using var scope = NewDisposeScope();
        // u = 1.15, 1.15, 0.85, 1.3 with A = 1, 1, -1, -1, lags 0, 1, 1, 3, so eps = 0.2, 0.1, 0.1, 0.05 (w = 1):
        // -1.15 (inside 0.8-1.2), -1.1 (clipped at 1.1), 0.9 (clipped at 0.9), 1.3 (A < 0 and u above 1.05:
        // the unclipped term is larger and wins, not counted as clipped). Mean (-1.15 - 1.1 + 0.9 + 1.3) / 4 = -0.0125.
        // Without lags: -1.15, -1.15, 0.85, 1.3, mean -0.0375, nothing clipped.
        var u = T([1.15f, 1.15f, 0.85f, 1.3f]);
        var proximal = T([-1f, -2f, -0.5f, -3f]);
        var advantages = T([1, 1, -1, -1]);
        var byLag = CoreAlgorithms.DecoupledPpoPolicyLoss(proximal + u.log(), proximal, proximal, advantages, ones_like(u), versionLags: T([0, 1, 1, 3]));
        var fixedClip = CoreAlgorithms.DecoupledPpoPolicyLoss(proximal + u.log(), proximal, proximal, advantages, ones_like(u));

        byLag.Loss.item<float>().Should().BeApproximately(-0.0125f, 1e-5f);
        byLag.ClipFraction.item<float>().Should().Be(0.5f);
        fixedClip.Loss.item<float>().Should().BeApproximately(-0.0375f, 1e-5f);
        fixedClip.ClipFraction.item<float>().Should().Be(0f);
    }

    [Fact]
    public void Decoupled_ppo_is_ppo_when_the_behaviour_policy_is_the_proximal_one()
    {
        using var scope = NewDisposeScope();
        var (logProbs, old, advantages, mask) = (T([-0.2f, -1.4f, -0.9f, -2f]), T([-0.5f, -1f, -1f, -2.2f]), T([0.7f, -1.2f, 2f, -0.3f]), T([1, 1, 0, 1]));
        var ppo = CoreAlgorithms.PpoPolicyLoss(logProbs, old, advantages, mask);
        var decoupled = CoreAlgorithms.DecoupledPpoPolicyLoss(logProbs, old, old, advantages, mask);

        decoupled.Loss.item<float>().Should().BeApproximately(ppo.Loss.item<float>(), 1e-6f);
        decoupled.ClipFraction.item<float>().Should().Be(ppo.ClipFraction.item<float>());
        decoupled.BehaviourCutFraction!.item<float>().Should().Be(0f);
    }

    [Fact]
    public void Decoupled_ppo_refuses_a_cap_that_would_cut_on_policy_tokens()
    {
        using var scope = NewDisposeScope();
        var x = T([0f]);
        var act = () => CoreAlgorithms.DecoupledPpoPolicyLoss(x, x, x, x, ones_like(x), behaviourWeightCap: 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*behaviour weight cap*");
    }

    [Fact]
    public void Value_loss_takes_the_larger_of_clipped_and_unclipped()
    {
        using var scope = NewDisposeScope();
        // V 1.0 (old 0.5 -> clipped 0.7), R 2: max(1, 1.69) = 1.69; V 2.0 (old 2.1, inside), R 1: 1. 0.5 * mean = 0.6725.
        var (loss, clipFraction) = CoreAlgorithms.ClippedValueLoss(T([1, 2]), T([0.5f, 2.1f]), T([2, 1]), T([1, 1]), 0.2);

        loss.item<float>().Should().BeApproximately(0.6725f, 1e-6f);
        clipFraction.item<float>().Should().Be(0.5f);
    }

    [Fact]
    public void Kl_estimators()
    {
        using var scope = NewDisposeScope();
        // log p = -1, log q = -1.5: k1 0.5, abs 0.5, k2 0.125, k3 = e^-0.5 + 0.5 - 1 = 0.1065307.
        var (p, q) = (T([-1f]), T([-1.5f]));
        Row(CoreAlgorithms.KlPenalty(p, q, KlEstimator.K1))[0].Should().BeApproximately(0.5f, 1e-6f);
        Row(CoreAlgorithms.KlPenalty(q, p, KlEstimator.Abs))[0].Should().BeApproximately(0.5f, 1e-6f);
        Row(CoreAlgorithms.KlPenalty(p, q, KlEstimator.K2))[0].Should().BeApproximately(0.125f, 1e-6f);
        Row(CoreAlgorithms.KlPenalty(p, q, KlEstimator.K3))[0].Should().BeApproximately(0.1065307f, 1e-6f);
        // k3 clamps: a log-ratio of 50 is cut to 20 and the result to 10.
        Row(CoreAlgorithms.KlPenalty(T([-60f]), T([-10f]), KlEstimator.K3))[0].Should().Be(10f);
        Close(Row(CoreAlgorithms.ApplyKlPenalty(T([1, 1]), T([-1, -1]), T([-1.5f, -1.5f]), T([1, 0]), 0.1, KlEstimator.K1)), 0.95, 0);
    }

    [Fact]
    public void Loss_aggregation_modes()
    {
        using var scope = NewDisposeScope();
        // Losses [[1,2,3],[4,5,6]], mask [[1,1,0],[1,0,0]]: token-mean 7/3; seq-mean-token-sum (3+4)/2; seq-mean-token-mean (1.5+4)/2.
        var (losses, mask) = (T([1, 2, 3], [4, 5, 6]), T([1, 1, 0], [1, 0, 0]));
        CoreAlgorithms.Aggregate(losses, mask, LossAggregation.TokenMean).item<float>().Should().BeApproximately(7 / 3f, 1e-6f);
        CoreAlgorithms.Aggregate(losses, mask, LossAggregation.SeqMeanTokenSum).item<float>().Should().Be(3.5f);
        CoreAlgorithms.Aggregate(losses, mask, LossAggregation.SeqMeanTokenMean).item<float>().Should().Be(2.75f);
    }

    [Fact]
    public void Entropy_of_a_known_distribution()
    {
        using var scope = NewDisposeScope();
        // Logits [0, ln 3] -> p = [0.25, 0.75], H = -(0.25 ln 0.25 + 0.75 ln 0.75) = 0.5623351.
        CoreAlgorithms.Entropy(T([0, (float)Math.Log(3)])).item<float>().Should().BeApproximately(0.5623351f, 1e-6f);
    }

    [Fact]
    public void Dpo_loss_and_implicit_rewards()
    {
        using var scope = NewDisposeScope();
        // beta 0.1: z = 0.1 * ((-1 + 3) - (-2 + 2.5)) = 0.15, loss = -log sigmoid(0.15) = 0.6209570.
        var (loss, chosen, rejected) = CoreAlgorithms.DpoLoss(tensor(new[] { -1f }), tensor(new[] { -3f }), tensor(new[] { -2f }), tensor(new[] { -2.5f }), 0.1);

        loss.item<float>().Should().BeApproximately(0.6209570f, 1e-6f);
        chosen.item<float>().Should().BeApproximately(0.1f, 1e-6f);
        rejected.item<float>().Should().BeApproximately(-0.05f, 1e-6f);
    }

    [Fact]
    public void Ipo_loss_regresses_the_margin_to_one_over_two_tau()
    {
        using var scope = NewDisposeScope();
        // tau 0.1, target 1 / (2 tau) = 5. Pair 1: h = (-1 + 3) - (-2 + 2.5) = 1.5, (1.5 - 5)^2 = 12.25;
        // pair 2: h = (-1 + 9) - (-2 + 5) = 5, (5 - 5)^2 = 0. Mean 6.125.
        var loss = CoreAlgorithms.IpoLoss(tensor(new[] { -1f, -1f }), tensor(new[] { -3f, -9f }), tensor(new[] { -2f, -2f }), tensor(new[] { -2.5f, -5f }), 0.1);

        loss.item<float>().Should().BeApproximately(6.125f, 1e-5f);
    }
}
