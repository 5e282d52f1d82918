using Kernels.Model;
using Kernels.Pipeline;
using Kernels.Preference;
using Kernels.Training;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class PreferenceTests
{
    private static readonly (int[] Prompt, int[] Chosen, int[] Rejected)[] Pairs =
    [
        ([1, 5, 6], [7, 8, 2], [7, 9, 2]),
        ([1, 9], [10, 2], [11, 12, 13, 2]),
        ([1, 4, 4, 4], [11, 2], [3, 2]),
    ];

    // Reference log-probs away from the policy's, so that the margins (and the loss) are not at their start.
    private static PreferenceExample[] Examples(Transformer policy)
    {
        var chosen = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Chosen))]);
        var rejected = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Rejected))]);
        return [.. Pairs.Select((p, k) => new PreferenceExample(p.Prompt, p.Chosen, p.Rejected, chosen[k] + 0.3f * (k + 1), rejected[k] - 0.2f * k))];
    }

    [Fact]
    public void The_dpo_loss_and_rewards_are_those_computed_by_hand_from_the_sequence_log_probs()
    {
        using var policy = new Transformer(TinyModels.Config, seed: 11);
        var examples = Examples(policy);
        var chosen = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Chosen))]);
        var rejected = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Rejected))]);
        const double beta = 0.5;

        var sums = PreferenceUpdate.Evaluate(policy, examples, PreferenceLoss.Sigmoid, beta);

        double loss = 0, chosenReward = 0, rejectedReward = 0, correct = 0;
        for (var k = 0; k < examples.Length; k++)
        {
            var rw = beta * (chosen[k] - examples[k].RefChosen);
            var rl = beta * (rejected[k] - examples[k].RefRejected);
            loss += Math.Log(1 + Math.Exp(-(rw - rl)));
            (chosenReward, rejectedReward) = (chosenReward + rw, rejectedReward + rl);
            if (rw > rl) correct++;
        }
        sums.Pairs.Should().Be(3);
        sums.Loss.Should().BeApproximately(loss, 1e-4);
        sums.ChosenReward.Should().BeApproximately(chosenReward, 1e-4);
        sums.RejectedReward.Should().BeApproximately(rejectedReward, 1e-4);
        sums.Correct.Should().Be(correct);
        // Chosen references were raised and rejected ones lowered, so every margin is below zero: no pair is right yet.
        sums.Accuracy.Should().Be(0);
    }

    [Fact]
    public void The_ipo_loss_regresses_the_margin_of_token_averaged_log_probs()
    {
        using var policy = new Transformer(TinyModels.Config, seed: 12);
        var examples = Examples(policy);
        var chosen = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Chosen))]);
        var rejected = PreferenceUpdate.SequenceLogProbs(policy, [.. Pairs.Select(p => (p.Prompt, p.Rejected))]);
        const double tau = 0.25;

        var sums = PreferenceUpdate.Evaluate(policy, examples, PreferenceLoss.Ipo, tau);

        var expected = examples.Select((e, k) =>
        {
            var h = (chosen[k] - e.RefChosen) / e.Chosen.Length - (rejected[k] - e.RefRejected) / e.Rejected.Length;
            return Math.Pow(h - 1 / (2 * tau), 2);
        }).Sum();
        sums.Loss.Should().BeApproximately(expected, 1e-4);
    }

    [Fact]
    public void Gradients_of_shares_divided_by_the_batch_pairs_sum_to_the_whole_batch_gradient()
    {
        using var model = new Transformer(TinyModels.Config, seed: 13);
        var examples = Examples(model);

        var whole = PreferenceUpdate.Backward(model, examples, examples.Length, PreferenceLoss.Sigmoid, 0.1);
        var wholeGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var first = PreferenceUpdate.Backward(model, examples[..1], examples.Length, PreferenceLoss.Sigmoid, 0.1);
        var firstGradient = Gradients.Flatten(model.parameters());
        foreach (var p in model.parameters()) p.grad = null;
        var rest = PreferenceUpdate.Backward(model, examples[1..], examples.Length, PreferenceLoss.Sigmoid, 0.1);
        var summed = Gradients.Flatten(model.parameters()).Zip(firstGradient, (a, b) => a + b).ToArray();

        wholeGradient.Any(g => g != 0).Should().BeTrue();
        summed.Should().Equal(wholeGradient, (x, y) => Math.Abs(x - y) < 1e-6f);
        first.Add(rest).Loss.Should().BeApproximately(whole.Loss, 1e-5);
    }

    [Theory]
    [InlineData(PreferenceLoss.Sigmoid)]
    [InlineData(PreferenceLoss.Ipo)]
    public void Pipeline_stages_over_micro_batches_of_pairs_give_the_whole_models_loss_and_gradient(PreferenceLoss loss)
    {
        using var scope = NewDisposeScope();
        using var whole = new Transformer(TinyModels.Config with { Layers = 3 }, seed: 15);
        var examples = Examples(whole);
        var wholeSums = PreferenceUpdate.Backward(whole, examples, examples.Length, loss, 0.2);
        var wholeGradients = whole.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone());

        var stages = PipelineStage.Split(whole, 3);
        PreferenceExample[][] microBatches = [examples[..2], examples[2..]];
        var staged = PreferenceSums.Zero;
        for (var mb = 0; mb < microBatches.Length; mb++)
        {
            var batch = PreferenceUpdate.Batch(stages[0].Slice, microBatches[mb]);
            var activation = batch.Tokens;
            for (var s = 0; s < stages.Length; s++)
            {
                var pairs = microBatches[mb];
                activation = stages[s].Forward(mb, activation, s < stages.Length - 1 ? null : output =>
                {
                    var (value, sums) = PreferenceUpdate.Loss(output, batch, pairs, examples.Length, loss, 0.2);
                    staged = staged.Add(sums);
                    return value;
                });
            }
        }
        for (var mb = 0; mb < microBatches.Length; mb++)
        {
            Tensor? gradient = null;
            for (var s = stages.Length - 1; s >= 0; s--) gradient = stages[s].Backward(mb, gradient);
        }

        staged.Pairs.Should().Be(examples.Length);
        staged.Loss.Should().BeApproximately(wholeSums.Loss, 1e-5);
        staged.ChosenReward.Should().BeApproximately(wholeSums.ChosenReward, 1e-5);
        staged.Correct.Should().Be(wholeSums.Correct);
        foreach (var stage in stages)
        {
            foreach (var (name, parameter) in stage.Slice.named_parameters())
            {
                (parameter.grad! - wholeGradients[name]).abs().max().item<float>().Should().BeLessThan(1e-6f, name);
            }
            stage.Slice.Dispose();
        }
    }

    [Theory]
    [InlineData(PreferenceLoss.Sigmoid)]
    [InlineData(PreferenceLoss.Ipo)]
    public void Sums_from_sequence_log_probs_scored_elsewhere_equal_the_policys_own(PreferenceLoss loss)
    {
        using var policy = new Transformer(TinyModels.Config, seed: 16);
        var examples = Examples(policy);
        var chosen = PreferenceUpdate.SequenceLogProbs(policy, [.. examples.Select(e => (e.Prompt, e.Chosen))]);
        var rejected = PreferenceUpdate.SequenceLogProbs(policy, [.. examples.Select(e => (e.Prompt, e.Rejected))]);

        var scored = PreferenceUpdate.Sums(examples, chosen, rejected, loss, 0.3);

        var own = PreferenceUpdate.Evaluate(policy, examples, loss, 0.3);
        scored.Pairs.Should().Be(own.Pairs);
        scored.Loss.Should().BeApproximately(own.Loss, 1e-5);
        scored.ChosenReward.Should().BeApproximately(own.ChosenReward, 1e-5);
        scored.RejectedReward.Should().BeApproximately(own.RejectedReward, 1e-5);
        scored.Correct.Should().Be(own.Correct);
        FluentActions.Invoking(() => PreferenceUpdate.Sums(examples, chosen[..1], rejected, loss, 0.3)).Should().Throw<ArgumentException>().WithMessage("3 pairs need as many chosen and rejected log-probs, not 1 and 3");
    }

    [Fact]
    public void Optimizer_steps_on_the_dpo_loss_raise_the_chosen_responses_over_the_rejected()
    {
        using var model = new Transformer(TinyModels.Config, seed: 14);
        var reference = Examples(model).Select((e, k) => e with
        {
            RefChosen = PreferenceUpdate.SequenceLogProbs(model, [(e.Prompt, e.Chosen)])[0],
            RefRejected = PreferenceUpdate.SequenceLogProbs(model, [(e.Prompt, e.Rejected)])[0],
        }).ToArray();
        using var optimizer = new AdamWOptimizer(model.parameters(), new OptimizerOptions { LearningRate = 1e-2, WarmupSteps = 0, WeightDecay = 0 });
        var before = PreferenceUpdate.Evaluate(model, reference, PreferenceLoss.Sigmoid, 0.1);

        for (var s = 0; s < 20; s++)
        {
            foreach (var p in model.parameters()) p.grad = null;
            PreferenceUpdate.Backward(model, reference, reference.Length, PreferenceLoss.Sigmoid, 0.1);
            optimizer.Step();
        }
        var after = PreferenceUpdate.Evaluate(model, reference, PreferenceLoss.Sigmoid, 0.1);

        before.MeanMargin.Should().BeApproximately(0, 1e-4, "the policy is its own reference at the start");
        before.MeanLoss.Should().BeApproximately(Math.Log(2), 1e-4);
        after.MeanMargin.Should().BeGreaterThan(0.5);
        after.Accuracy.Should().Be(1);
        after.MeanLoss.Should().BeLessThan(before.MeanLoss);
    }

    [Theory]
    [InlineData("{\"prompt\":\"1+2=\",\"chosen\":\"3\"}", "pairs:2: \"rejected\" is missing or empty")]
    [InlineData("{\"prompt\":\"\",\"chosen\":\"3\",\"rejected\":\"4\"}", "pairs:2: \"prompt\" is missing or empty")]
    [InlineData("{\"prompt\":\"1+2=\",\"chosen\":\"3\",\"rejected\":\"3\"}", "pairs:2: \"chosen\" and \"rejected\" are the same response")]
    [InlineData("{\"prompt\":\"1+2=\",\"chosen\":\"3\",\"rejected\":\"4\",\"score\":1}", "pairs:2: not a JSON object")]
    [InlineData("[1,2]", "pairs:2: not a JSON object")]
    public void A_bad_line_is_refused_naming_its_number(string line, string error)
    {
        var text = "{\"prompt\":\"1+1=\",\"chosen\":\"2\",\"rejected\":\"3\"}\n" + line + "\n";

        var read = () => PreferenceFile.Read(new StringReader(text));

        read.Should().Throw<InvalidDataException>().Which.Message.Should().StartWith(error);
    }

    [Fact]
    public void Pairs_written_read_back_equal_with_their_lines()
    {
        PreferencePair[] pairs = [new("1+1=", "2", "3"), new("say \"x\"", "x", "y")];
        var writer = new StringWriter();
        PreferenceFile.Write(writer, pairs);

        var read = PreferenceFile.Read(new StringReader("\n" + writer));

        read.Should().Equal(pairs);
        read.Select(p => p.Line).Should().Equal(2, 3);
        FluentActions.Invoking(() => PreferenceFile.Read(new StringReader("\n\n"), "empty.jsonl")).Should().Throw<InvalidDataException>().WithMessage("empty.jsonl: no preference pairs");
    }
}
