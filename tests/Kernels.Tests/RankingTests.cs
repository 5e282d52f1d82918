using FluentAssertions;
using Kernels.Emulation;
using Kernels.Ranking;
using Kernels.Tasks;
using Xunit;
using Xunit.Abstractions;

namespace Kernels.Tests;

/// <summary>The output-length ranker: its quality figures by hand, and what it learns on the emulated length model and the run-length task.</summary>
public sealed class RankingTests(ITestOutputHelper output)
{
    [Fact]
    public void Recall_of_the_longest_counts_the_shared_top_k()
    {
        double[] actual = [10, 50, 20, 40, 30, 60, 5, 1, 2, 3];
        double[] predicted = [9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
        // k = ceil(0.3 x 10) = 3: actual top {5, 1, 3}, predicted top {0, 1, 2}: one shared.
        RankQuality.RecallOfLongest(predicted, actual, 0.3).Should().BeApproximately(1 / 3.0, 1e-12);
        RankQuality.RecallOfLongest(actual, actual, 0.2).Should().Be(1);
    }

    [Fact]
    public void Ties_in_what_came_count_for_any_of_the_tied()
    {
        // k = ceil(0.4 x 5) = 2 and the second-longest actual value, 5, is shared by three: the forecast's
        // top two (indices 3 and 2) both reach it, whichever of the tied the actual order would list first.
        RankQuality.RecallOfLongest([0, 0, 1, 9, 0], [1, 5, 5, 5, 0], 0.4).Should().Be(1);
    }

    [Fact]
    public void Spearman_averages_tied_ranks()
    {
        // Ranks of [1, 2, 2, 3] are [1, 2.5, 2.5, 4]; of [10, 20, 30, 40] [1, 2, 3, 4]: rho = 4.5 / sqrt(4.5 x 5).
        RankQuality.SpearmanRho([1, 2, 2, 3], [10, 20, 30, 40]).Should().BeApproximately(4.5 / Math.Sqrt(4.5 * 5), 1e-12);
        RankQuality.SpearmanRho([4, 3, 2, 1], [10, 20, 30, 40]).Should().BeApproximately(-1, 1e-12);
        RankQuality.SpearmanRho([1, 1, 1], [1, 2, 3]).Should().Be(0);
    }

    [Fact]
    public void Bad_lists_are_refused()
    {
        var act = () => RankQuality.RecallOfLongest([1, 2], [1, 2, 3]);
        act.Should().Throw<ArgumentException>().WithMessage("*2 predictions for 3*");
        act = () => RankQuality.SpearmanRho([], []);
        act.Should().Throw<ArgumentException>().WithMessage("*nothing to rank*");
    }

    [Fact]
    public void The_token_model_learns_the_run_length_tasks_answer_lengths()
    {
        // Ten steps of 64 prompts, each with one response of the answer's length (what a policy that has learned the task writes).
        var task = new RunLengthTask();
        var random = new Random(5);
        var ranker = new LengthRanker();
        for (var step = 0; step < 10; step++)
        {
            ranker.Observe([.. Enumerable.Range(0, 64).Select(p => task.Generate(random)).Select((e, p) => new ObservedPrompt(step * 64 + p, Tokens(e.Prompt), [e.Answer.Length]))]);
        }
        var unseen = Enumerable.Range(0, 2000).Select(_ => task.Generate(random)).ToArray();
        var predicted = ranker.Predict([.. unseen.Select((e, i) => new RankedPrompt(-1 - i, Tokens(e.Prompt)))]);
        var recall = RankQuality.RecallOfLongest(predicted, [.. unseen.Select(e => (double)e.Answer.Length)]);
        output.WriteLine($"run-length, unseen prompts after 640: recall of the longest 20 % {recall:F3}, rank correlation {RankQuality.SpearmanRho(predicted, [.. unseen.Select(e => (double)e.Answer.Length)]):F3}");
        recall.Should().BeGreaterThan(0.8);
    }

    [Fact]
    public void The_token_model_is_fit_to_each_prompts_mean_log_length_ratio_and_its_forecast_put_in_score_units()
    {
        // One step, lengths 2, 6 (prompt A), 4 (B), 16 (C): the median is 5, so A's mean log ratio is (ln 0.4 + ln 1.2) / 2,
        // B's ln 0.8, C's ln 3.2; their rank scores (ranks 1, 3 | 2 | 4 of 4) are (Phi^-1(1/8) + Phi^-1(5/8)) / 2, Phi^-1(3/8), Phi^-1(7/8).
        var ranker = new LengthRanker();
        ranker.Observe([new ObservedPrompt(1, [7, 8], [2, 6]), new ObservedPrompt(2, [9], [4]), new ObservedPrompt(3, [7, 9], [16])]);

        ranker.Model.Window.Select(w => w.Target).Should().Equal([-0.366985, -0.223144, 1.163151], (a, e) => Math.Abs(a - e) < 1e-6);
        // The least-squares line through (ratio, score): (-0.366985, -0.415855), (-0.223144, -0.318639), (1.163151, 1.150349).
        ranker.Calibration.Slope.Should().BeApproximately(1.038079, 1e-6);
        ranker.Calibration.Intercept.Should().BeApproximately(-0.059663, 1e-6);
        ranker.State().History.Single(h => h.Key == 1).Sum.Should().BeApproximately(2 * -0.415855, 1e-6, "history keeps the rank scores");

        // A prompt with no history is forecast by the model alone, its ratio in score units: (0 + 4 x score) / (0 + 4).
        var forecast = ranker.Predict([new RankedPrompt(9, [7, 9])])[0];
        forecast.Should().BeApproximately(ranker.Calibration.Score(ranker.Model.Predict([7, 9])), 1e-12);

        ScoreCalibration.Fit([(0.5, 1), (0.5, 2)]).Should().BeNull("ratios alike say nothing of the slope");
        ScoreCalibration.Fit([(0, 1), (1, 0)]).Should().BeNull("a falling line would turn the forecast around");
        System.Text.Json.JsonSerializer.Deserialize<RankerState>("""{"History":[],"Window":[]}""")!.Calibration.Should().BeNull("a checkpoint from before calibrations restores one to one");
    }

    [Theory]
    [InlineData(11)]
    [InlineData(12)]
    [InlineData(13)]
    public void Fit_to_log_length_ratios_the_token_model_recalls_more_of_the_longest_than_fit_to_rank_scores(int seed)
    {
        // Ten steps of 64 run-length prompts, each answered at the answer's length (+ eos). The same hashed counts and ridge,
        // fit to each prompt's rank score or to its log length ratio, forecast 2,000 unseen prompts' answer lengths.
        var task = new RunLengthTask();
        var random = new Random(seed);
        var (byScore, byRatio) = (new PromptLengthModel(), new PromptLengthModel());
        for (var step = 0; step < 10; step++)
        {
            var examples = Enumerable.Range(0, 64).Select(_ => task.Generate(random)).ToArray();
            int[] lengths = [.. examples.Select(e => e.Answer.Length + 1)];
            var (scores, ratios) = (LengthRanker.Scores(lengths), LengthRanker.LogRatios(lengths));
            for (var p = 0; p < examples.Length; p++)
            {
                byScore.Observe(Tokens(examples[p].Prompt), scores[p]);
                byRatio.Observe(Tokens(examples[p].Prompt), ratios[p]);
            }
        }
        byScore.Fit();
        byRatio.Fit();
        var unseen = Enumerable.Range(0, 2000).Select(_ => task.Generate(random)).ToArray();
        double[] answers = [.. unseen.Select(e => (double)e.Answer.Length)];
        var recallByScore = RankQuality.RecallOfLongest([.. unseen.Select(e => byScore.Predict(Tokens(e.Prompt)))], answers);
        var recallByRatio = RankQuality.RecallOfLongest([.. unseen.Select(e => byRatio.Predict(Tokens(e.Prompt)))], answers);
        output.WriteLine($"seed {seed}: recall of the longest 20 % of 2,000 unseen prompts: fit to rank scores {recallByScore:F3}, to log length ratios {recallByRatio:F3}");
        recallByRatio.Should().BeGreaterThan(recallByScore);
    }

    [Theory]
    [InlineData(3)]
    [InlineData(200)]
    public void The_length_models_solve_is_the_ridge_regression_over_every_bucket(int prompts)
    {
        // 3 prompts fill more of the 16 buckets than there are prompts (the dual solve), 200 fewer (the primal):
        // both must be the one ridge solution over all 17 columns, (X^T X + lambda I) w = X^T y, solved here densely.
        var random = new Random(prompts);
        var model = new PromptLengthModel(buckets: 16, ridge: 0.5);
        var window = Enumerable.Range(0, prompts).Select(_ => (Tokens: Enumerable.Range(0, 2 + random.Next(6)).Select(_ => random.Next(40)).ToArray(), Score: random.NextDouble() * 2 - 1)).ToArray();
        foreach (var (tokens, score) in window) model.Observe(tokens, score);

        var x = MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.Dense(prompts, 17, (r, c) => model.Features(window[r].Tokens).GetValueOrDefault(c));
        var y = MathNet.Numerics.LinearAlgebra.Vector<double>.Build.DenseOfEnumerable(window.Select(w => w.Score));
        var expected = (x.TransposeThisAndMultiply(x) + 0.5 * MathNet.Numerics.LinearAlgebra.Matrix<double>.Build.DenseIdentity(17)).Solve(x.TransposeThisAndMultiply(y));

        model.Solve().Should().BeEquivalentTo(expected.ToArray(), o => o.WithStrictOrdering().Using<double>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-9)).WhenTypeIs<double>());
        x.ColumnSums().Count(s => s > 0).Should().Match(c => prompts == 3 ? c > prompts : c < prompts, "each form is exercised");
    }

    [Fact]
    public void History_ranks_the_emulated_prompts_once_it_has_seen_them()
    {
        var lengths = new LengthModel(LengthDistribution.Reasoning32K, 0.6, 0.002);
        var ranker = new LengthRanker();
        const int dataset = 256, perStep = 64, group = 16;
        var recalls = new List<(double Prompt, double Response)>();
        for (var step = 0; step < 12; step++)
        {
            var keys = Enumerable.Range(0, perStep).Select(p => (long)((step * perStep + p) % dataset)).ToArray();
            var prompts = keys.Select(k => new RankedPrompt(k, [])).ToArray();
            var predicted = ranker.Predict(prompts);
            var observed = keys.Select(k => new ObservedPrompt(k, [], [.. Enumerable.Range(0, group).Select(r => lengths.Length(k, 1_000_000L * step + 100 * k + r, step))])).ToArray();
            recalls.Add((RankQuality.RecallOfLongest(predicted, [.. observed.Select(o => o.Lengths.Average())]),
                RankQuality.RecallOfLongest([.. predicted.SelectMany(p => Enumerable.Repeat(p, group))], [.. observed.SelectMany(o => o.Lengths.Select(l => (double)l))])));
            ranker.Observe(observed);
            output.WriteLine($"step {step}: prompts {recalls[^1].Prompt:F3}, responses {recalls[^1].Response:F3}");
        }
        recalls.Take(4).Average(r => r.Prompt).Should().BeLessThan(0.5, "the first epoch's prompts have no history");
        recalls.Skip(4).Average(r => r.Prompt).Should().BeGreaterThan(0.75);
    }

    [Fact]
    public void Knowing_each_prompts_latent_exactly_still_misses_some_of_the_longest_groups()
    {
        // The ceiling of any prompt-level forecast on the emulated reasoning-32k length model (prompt
        // correlation 0.6): ranked by the very latent their lengths are drawn from, groups of 16 still land
        // in or out of the longest 20 % by their own responses' draws. 200 steps of 64 prompts.
        var lengths = new LengthModel(LengthDistribution.Reasoning32K, 0.6, 0);
        var recalls = Enumerable.Range(0, 200).Select(step =>
        {
            long[] prompts = [.. Enumerable.Range(0, 64).Select(p => 1000L * step + p)];
            double[] means = [.. prompts.Select(p => Enumerable.Range(0, 16).Average(r => (double)lengths.Length(p, 7_000_000L * step + 100 * p + r, 0)))];
            return RankQuality.RecallOfLongest([.. prompts.Select(LengthModel.Score)], means);
        }).ToArray();
        output.WriteLine($"recall of the longest 20 % of prompts by their latent: {recalls.Average():F3}");
        recalls.Average().Should().BeInRange(0.80, 0.92);
    }

    [Fact]
    public void A_forecast_from_siblings_ranks_ended_responses_exactly_and_running_ones_above_them()
    {
        // Four responses, two prompts; one of A's ended (length 10): its rank 1 of 4 scores Phi^-1(1/8) = -1.150349;
        // the three running ones rank above it, each phi(a) / (1 - Phi(a)) = 0.317777 / 0.75 = 0.423702 at a = Phi^-1(1/4).
        var alone = SiblingForecast.Predict([1.0, -1.0], [[10], []], [2, 2], [2, 2], launchWeight: 0);
        alone[0].Should().BeApproximately((-1.150349 + 0.423702) / 2, 1e-5);
        alone[1].Should().BeApproximately(0.423702, 1e-5);

        // Shrunk toward the launch forecast with 4 responses' weight: (-1.150349 + 0.423702 + 4) / 6, (2 x 0.423702 - 4) / 6.
        var shrunk = SiblingForecast.Predict([1.0, -1.0], [[10], []], [2, 2], [2, 2]);
        shrunk[0].Should().BeApproximately(0.545559, 1e-5);
        shrunk[1].Should().BeApproximately(-0.525433, 1e-5);

        // One of B's responses still waiting to begin: A's ended one ranks 1 of the 3 begun, Phi^-1(1/6) = -0.967422;
        // the running ones score 0.545400 above a = Phi^-1(1/3); the waiting one 0.
        var waiting = SiblingForecast.Predict([1.0, -1.0], [[10], []], [2, 1], [2, 2], launchWeight: 0);
        waiting[0].Should().BeApproximately((-0.967422 + 0.545400) / 2, 1e-5);
        waiting[1].Should().BeApproximately(0.545400 / 2, 1e-5);

        SiblingForecast.Predict([0.3, -0.6], [[], []], [2, 2], [2, 2]).Should().Equal([0.3 * 4 / 6, -0.6 * 4 / 6], "nothing ended: the launch forecast, shrunk toward the middle");
        var scores = LengthRanker.Scores([5, 9, 7, 3]);
        SiblingForecast.Predict([2.0, 2.0], [[5, 9], [7, 3]], [2, 2], [2, 2], launchWeight: 0).Should().BeEquivalentTo(
            [(scores[0] + scores[1]) / 2, (scores[2] + scores[3]) / 2], o => o.WithStrictOrdering().Using<double>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-12)).WhenTypeIs<double>(),
            "every response ended: the scores the ranker learns from");

        var mismatched = () => SiblingForecast.Predict([0.0], [[1, 2, 3]], [2], [2]);
        mismatched.Should().Throw<ArgumentException>().WithMessage("prompt 0: 3 responses ended, 2 begun, of its 2");
    }

    [Fact]
    public void A_running_response_ranks_above_the_ended_ones_shorter_than_its_tokens_so_far_only()
    {
        // Kaplan-Meier over A's ended 10 and running 20 tokens so far, B's ended 30 and running 5 so far: at 10, three at
        // risk (B's running one is censored at 5), so F jumps 0 -> 1/3 and A's ended one scores Phi^-1(1/6) = -0.967422;
        // at 30 only B's ended one is at risk (A's running one censored at 20): F 1/3 -> 1, Phi^-1(2/3) = 0.430727. A's
        // running one is above F(20) = 1/3: 0.545400 (as in the test above); B's, with nothing ended below its 5, says nothing (0).
        var scores = SiblingForecast.Predict([0.0, 0.0], [[10], [30]], [2, 2], [2, 2], launchWeight: 0, runningSoFar: [[20], [5]]);
        scores[0].Should().BeApproximately((-0.967422 + 0.545400) / 2, 1e-5);
        scores[1].Should().BeApproximately(0.430727 / 2, 1e-5);

        // Running ones past every ended length are the responses begun together: the same forecast as without their counts.
        SiblingForecast.Predict([1.0, -1.0], [[10], []], [2, 2], [2, 2], runningSoFar: [[11], [12, 50]])
            .Should().Equal(SiblingForecast.Predict([1.0, -1.0], [[10], []], [2, 2], [2, 2]));
        var miscounted = () => SiblingForecast.Predict([0.0], [[1]], [2], [2], runningSoFar: [[]]);
        miscounted.Should().Throw<ArgumentException>().WithMessage("prompt 0: 0 running responses' tokens so far for its 1 running");
    }

    [Fact]
    public void Siblings_ended_rank_the_longest_prompts_better_than_their_latent_and_alone_well_past_chance()
    {
        // The emulated reasoning-32k length model (prompt correlation 0.6), 64 prompts x 16 begun together. A quarter
        // in, the ended responses are the short ones and say nothing of which prompts are the longest; from half on,
        // which prompts' siblings still run says more than the latent their lengths are drawn from (the ceiling of a
        // forecast made at launch, the test above). With no launch forecast (prompts never seen) they rank alone.
        var lengths = new LengthModel(LengthDistribution.Reasoning32K, 0.6, 0);
        var launch = new List<double>();
        var shares = new[] { 0.25, 0.5, 0.8 };
        var (informed, alone) = (shares.ToDictionary(f => f, _ => new List<double>()), shares.ToDictionary(f => f, _ => new List<double>()));
        for (var step = 0; step < 100; step++)
        {
            long[] prompts = [.. Enumerable.Range(0, 64).Select(p => 1000L * step + p)];
            int[][] drawn = [.. prompts.Select((p, k) => Enumerable.Range(0, 16).Select(r => lengths.Length(p, 7_000_000L * step + 100 * k + r, 0)).ToArray())];
            double[] means = [.. drawn.Select(d => d.Average())];
            double[] latent = [.. prompts.Select(LengthModel.Score)];
            launch.Add(RankQuality.RecallOfLongest(latent, means));
            foreach (var f in shares)
            {
                var endedBelow = drawn.SelectMany(d => d).Order().ElementAt((int)(64 * 16 * f));
                int[][] ended = [.. drawn.Select(d => d.Where(l => l < endedBelow).ToArray())];
                int[] all = [.. drawn.Select(d => d.Length)];
                informed[f].Add(RankQuality.RecallOfLongest(SiblingForecast.Predict(latent, ended, all, all), means));
                alone[f].Add(RankQuality.RecallOfLongest(SiblingForecast.Predict(new double[64], ended, all, all), means));
            }
        }
        output.WriteLine($"recall of the longest 20 % of prompts: by their latent {launch.Average():F3}; with it, "
            + string.Join(", ", shares.Select(f => $"{f:P0} ended {informed[f].Average():F3}")) + "; siblings alone, " + string.Join(", ", shares.Select(f => $"{f:P0} ended {alone[f].Average():F3}")));
        informed[0.25].Average().Should().BeApproximately(launch.Average(), 0.01, "the shortest quarter says nothing of the longest prompts");
        informed[0.5].Average().Should().BeGreaterThan(launch.Average() + 0.01);
        informed[0.8].Average().Should().BeGreaterThan(launch.Average() + 0.03);
        alone[0.5].Average().Should().BeGreaterThan(0.6, "a random forecast recalls 0.2");
    }

    [Fact]
    public void A_ranker_restored_from_its_state_forecasts_as_the_one_that_saved_it()
    {
        var task = new RunLengthTask();
        var random = new Random(3);
        var ranker = new LengthRanker();
        for (var step = 0; step < 3; step++)
        {
            ranker.Observe([.. Enumerable.Range(0, 16).Select(p => task.Generate(random)).Select((e, p) => new ObservedPrompt(p % 10, Tokens(e.Prompt), [e.Answer.Length, e.Answer.Length + 1]))]);
        }
        var prompts = Enumerable.Range(0, 20).Select(i => new RankedPrompt(i, Tokens(task.Generate(random).Prompt))).ToArray();

        var restored = new LengthRanker();
        restored.Observe([new ObservedPrompt(99, Tokens("5a="), [3])]);
        restored.Restore(ranker.State());

        restored.Predict(prompts).Should().Equal(ranker.Predict(prompts), "history and the token model's window came back, and nothing of its own stayed");
        restored.Knows(99).Should().BeFalse();
    }

    private static int[] Tokens(string text) => [.. text.Select(c => (int)c)];
}
