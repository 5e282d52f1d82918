using Kernels.Model;
using Kernels.Rl;
using Kernels.Training;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class RlUpdateTests
{
    private static readonly (int[] Prompt, int[] Response)[] Rows =
    [
        ([1, 5, 6], [7, 8, 2]),
        ([1, 9], [10, 2]),
        ([1, 4, 4, 4], [11, 12, 13, 2]),
        ([1, 3], [2]),
    ];

    private static TrainingSample[] Samples(Transformer model)
    {
        var old = ResponseScoring.LogProbs(model, Rows);
        var advantages = new[] { 1.5f, -0.5f, 0.25f, -1.0f };
        return Rows.Select((r, b) => new TrainingSample(r.Prompt, r.Response, old[b].Select(x => x - 0.05f * b).ToArray(),
            Enumerable.Repeat(advantages[b], r.Response.Length).ToArray(), RefLogProbs: old[b].Select(x => x + 0.1f).ToArray())).ToArray();
    }

    [Fact]
    public void Response_log_probs_are_the_models_next_token_log_probs_at_the_response_positions()
    {
        using var model = new Transformer(TinyModels.Config, seed: 5);
        var scored = ResponseScoring.LogProbs(model, Rows);

        for (var b = 0; b < Rows.Length; b++)
        {
            var (prompt, response) = Rows[b];
            using var all = model.NextTokenLogProbs(tensor(prompt.Concat(response).Select(t => (long)t).ToArray()).unsqueeze(0));
            var expected = all[0].data<float>().Skip(prompt.Length - 1).ToArray();
            scored[b].Should().Equal(expected, (x, y) => Math.Abs(x - y) < 1e-5f, $"row {b} alone, unpadded");
        }
    }

    [Fact]
    public void In_a_fixed_shape_a_rows_scores_do_not_depend_on_the_rest_of_the_batch()
    {
        using var model = new Transformer(TinyModels.Config, seed: 8);
        var shape = (Rows: 4, Width: 10);

        var together = ResponseScoring.LogProbs(model, Rows, shape: shape);
        for (var b = 0; b < Rows.Length; b++)
        {
            var alone = ResponseScoring.LogProbs(model, [Rows[b]], shape: shape)[0];
            alone.Should().Equal(together[b], $"row {b}, bit for bit");
        }
        FluentActions.Invoking(() => ResponseScoring.LogProbs(model, Rows, shape: (4, 5))).Should().Throw<ArgumentException>().WithMessage("*do not fit a batch of 4 x 5*");
    }

    [Fact]
    public void Gradients_of_shares_divided_by_the_whole_batch_tokens_sum_to_the_whole_batch_gradient()
    {
        using var model = new Transformer(TinyModels.Config, seed: 6);
        var samples = Samples(model);
        var tokens = samples.Sum(s => s.Tokens);
        var options = new ActorLossOptions(KlLossCoefficient: 0.1, EntropyCoefficient: 0.01);

        PolicyUpdate.ActorBackward(model, samples, tokens, options);
        var whole = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var first = PolicyUpdate.ActorBackward(model, samples[..1], tokens, options);
        var firstGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var rest = PolicyUpdate.ActorBackward(model, samples[1..], tokens, options);
        var summed = Gradients.Flatten(model.parameters()).Zip(firstGradient, (a, b) => a + b).ToArray();

        whole.Any(g => g != 0).Should().BeTrue();
        summed.Should().Equal(whole, (x, y) => Math.Abs(x - y) < 1e-6f);
        (first.Tokens + rest.Tokens).Should().Be(tokens);
    }

    [Fact]
    public void Tokens_a_tool_wrote_are_left_out_of_the_loss_its_gradient_and_its_token_count()
    {
        using var model = new Transformer(TinyModels.Config, seed: 8);
        var samples = Samples(model);
        // Row 2's middle two response tokens came from a tool; garbage in their behaviour log-probs and advantages changes nothing.
        bool[] tool = [false, true, true, false];
        var masked = samples.Select((s, b) => b == 2 ? s with { ToolTokens = tool } : s).ToArray();
        var scrambled = masked.Select((s, b) => b != 2 ? s : s with
        {
            OldLogProbs = [.. s.OldLogProbs.Select((x, j) => tool[j] ? -9f : x)], Advantages = [.. s.Advantages.Select((x, j) => tool[j] ? 50f : x)],
        }).ToArray();
        var tokens = masked.Sum(s => s.Tokens);
        var options = new ActorLossOptions(KlLossCoefficient: 0.1);

        var first = PolicyUpdate.ActorBackward(model, masked, tokens, options);
        var firstGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var second = PolicyUpdate.ActorBackward(model, scrambled, tokens, options);
        var secondGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var unmasked = PolicyUpdate.ActorBackward(model, scrambled.Select(s => s with { ToolTokens = null }).ToArray(), samples.Sum(s => s.Tokens), options);

        tokens.Should().Be(samples.Sum(s => s.Response.Length) - 2);
        first.Tokens.Should().Be(tokens);
        second.Loss.Should().BeApproximately(first.Loss, 1e-6);
        secondGradient.Should().Equal(firstGradient, (x, y) => Math.Abs(x - y) < 1e-7f);
        unmasked.Loss.Should().NotBeApproximately(first.Loss, 1e-3, "unmasked, the scrambled tokens count");
    }

    [Fact]
    public void A_proximal_policy_that_is_the_current_weights_gives_the_loss_and_gradient_of_its_log_probs_passed_in()
    {
        using var model = new Transformer(TinyModels.Config, seed: 9);
        var samples = Samples(model);
        var tokens = samples.Sum(s => s.Tokens);
        var options = new ActorLossOptions(EntropyCoefficient: 0.01, BehaviourWeightCap: 1.1);
        // The separate pass: the current weights' log-probs, as the trainers compute them before a step.
        var proximal = ResponseScoring.LogProbs(model, Rows);

        var passed = PolicyUpdate.ActorBackward(model, [.. samples.Select((s, b) => s with { ProximalLogProbs = proximal[b] })], tokens, options);
        var passedGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var current = PolicyUpdate.ActorBackward(model, [.. samples.Select(s => s with { ProximalIsCurrent = true })], tokens, options);
        var currentGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var plain = PolicyUpdate.ActorBackward(model, samples, tokens, options);

        current.Loss.Should().BeApproximately(passed.Loss, 1e-5);
        currentGradient.Should().Equal(passedGradient, (x, y) => Math.Abs(x - y) < 1e-6f);
        // Rows 2 and 3 sampled with weights exp(0.1) and exp(0.15) behind: above the cap, cut, so the loss is not plain PPO's.
        current.Loss.Should().NotBeApproximately(plain.Loss, 1e-4);
        // Their 4 + 1 tokens are counted as left out; plain PPO leaves none out.
        current.BehaviourCut.Should().Be(5);
        passed.BehaviourCut.Should().Be(5);
        plain.BehaviourCut.Should().Be(0);
    }

    [Fact]
    public void Flattened_gradients_assign_back_to_the_same_parameters()
    {
        using var model = new Transformer(TinyModels.Config, seed: 7);
        var count = model.parameters().Sum(p => p.numel());
        var flat = Enumerable.Range(0, (int)count).Select(i => (float)Math.Sin(i)).ToArray();

        Gradients.Assign(model.parameters(), flat);

        Gradients.Flatten(model.parameters()).Should().Equal(flat);
        FluentActions.Invoking(() => Gradients.Assign(model.parameters(), flat[1..])).Should().Throw<ArgumentException>().WithMessage($"*{count - 1}*{count}*");
    }

    [Fact]
    public void A_tools_tokens_count_in_neither_the_kl_nor_its_penalty_in_the_reward()
    {
        // Policy tokens: log p -1 against the reference's -1.5 (k1 = 0.5); the tool's tokens: log-prob 0 (no policy sampled them) against -4.
        ScoredSample Sample(string group, double score, bool[] tool) => new(group, score, [.. tool.Select(t => t ? 0f : -1f)],
            [.. tool.Select(t => t ? -4f : -1.5f)], ToolTokens: tool);
        var samples = new[] { Sample("a", 1, [false, true, true, false]), Sample("a", 0, [false, false, false]) };

        var result = AdvantageEstimator.Compute(RlAlgorithm.ReinforcePlusPlus, samples, new AdvantageOptions(KlEstimator: KlEstimator.K1, KlInRewardCoefficient: 0.1, Gamma: 1));
        var unmasked = AdvantageEstimator.Compute(RlAlgorithm.ReinforcePlusPlus, [.. samples.Select(s => s with { ToolTokens = null })], new AdvantageOptions(KlEstimator: KlEstimator.K1, KlInRewardCoefficient: 0.1, Gamma: 1));

        result.MeanKl.Should().BeApproximately(0.5, 1e-6, "the 5 policy tokens' k1; the tool's 2 left out");
        unmasked.MeanKl.Should().BeApproximately((5 * 0.5 + 2 * 4.0) / 7, 1e-6);
        result.Advantages.Should().NotBeEquivalentTo(unmasked.Advantages, "the tool's tokens took no KL penalty into the returns");
    }

    [Fact]
    public void Grpo_advantages_and_the_kl_penalty_match_hand_computed_values()
    {
        // Group a: scores 1, 0, 0 (mean 1/3, unbiased std sqrt(1/3)); group b: 1 and 1 (std 0).
        ScoredSample Sample(string group, double score, int length) =>
            new(group, score, Enumerable.Repeat(-1f, length).ToArray(), Enumerable.Repeat(-1.5f, length).ToArray());
        var samples = new[] { Sample("a", 1, 2), Sample("a", 0, 3), Sample("a", 0, 1), Sample("b", 1, 2), Sample("b", 1, 1) };

        var result = AdvantageEstimator.Compute(RlAlgorithm.Grpo, samples, new AdvantageOptions(KlEstimator: KlEstimator.K1));

        var std = Math.Sqrt(1 / 3.0);
        result.Advantages[0].Should().Equal([(float)((1 - 1 / 3.0) / (std + 1e-6)), (float)((1 - 1 / 3.0) / (std + 1e-6))], (x, y) => Math.Abs(x - y) < 1e-5);
        result.Advantages[1].Should().HaveCount(3).And.OnlyContain(x => Math.Abs(x - (float)(-1 / 3.0 / (std + 1e-6))) < 1e-5);
        result.Advantages[3].Should().OnlyContain(x => x == 0);
        result.MeanKl.Should().BeApproximately(0.5, 1e-6, "k1 = log p - log q = -1 - (-1.5)");
        var penalised = AdvantageEstimator.Compute(RlAlgorithm.Grpo, samples, new AdvantageOptions(KlInRewardCoefficient: 1.0, KlEstimator: KlEstimator.K1));
        // With beta KL in the reward every sample loses 0.5 per token: group b's scores become 0 and 0.5.
        penalised.Advantages[3][0].Should().BeApproximately((float)((0 - 0.25) / (Math.Sqrt(0.125) + 1e-6)), 1e-4f);
    }
}
