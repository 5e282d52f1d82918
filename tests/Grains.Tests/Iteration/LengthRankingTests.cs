using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Kernels.Ranking;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>The job's length ranking: a step's forecast, made at launch, scored against the trained samples' lengths, and learned from.</summary>
[Collection(ClusterCollection.Name)]
public sealed class LengthRankingTests(ClusterFixture fixture)
{
    private ILengthModelGrain Model => fixture.Cluster.GrainFactory.GetGrain<ILengthModelGrain>(0);

    private static readonly ScoringModels Scoring = new(RlTask.Arithmetic, null, "unused", null, "demo", 1.0, 64);

    /// <summary>Two responses per prompt; prompt p (its example index) runs about 10 (p + 1) tokens.</summary>
    private static (SampleStart[] Starts, SampleRecord[] Trained) Step(int iteration, int[] examples)
    {
        var starts = examples.SelectMany((e, g) => Enumerable.Range(0, 2).Select(r =>
            new SampleStart("ranked", iteration, 2 * g + r, $"{iteration}/{g}", e, [1, 2, 3], "", 7, 400, 1.0, Scoring, 1))).ToArray();
        var trained = starts.Select(s => new SampleRecord(SampleStage.Trained, s, "w", new GeneratedResponse([], [], 0, "w", false, EmulatedLength: 10 * (s.ExampleIndex + 1) + s.Index % 2),
            null, null, null, new StageTimes())).ToArray();
        return (starts, trained);
    }

    [Fact]
    public async Task A_prompt_seen_before_is_forecast_from_its_earlier_lengths()
    {
        var ranking = new LengthRanking(Model);
        var (starts, trained) = Step(1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        var first = ranking.Predict(starts);
        var firstReport = ranking.Trained(first, trained)!;
        first.KnownShare.Should().Be(0);
        firstReport.PromptRankCorrelation.Should().Be(0, "every prompt is forecast alike before any is seen");
        await ranking.Fitted();

        // The same prompts in another order, and one never seen (example 20, the longest).
        (starts, trained) = Step(2, [9, 3, 20, 5, 1, 7, 0, 2, 8, 6, 4]);
        var second = ranking.Predict(starts);
        second.KnownShare.Should().BeApproximately(10 / 11.0, 1e-12);
        second.ByGroup["2/0"].Should().BeGreaterThan(second.ByGroup["2/1"], "example 9 ran longer than example 3");
        var report = ranking.Trained(second, trained)!;
        // Ten known prompts ranked exactly; the new one is forecast at the middle though it runs longest: of the
        // k = ceil(0.2 x 11) = 3 longest (20, 9, 8) the forecast's top 3 (9, 8, 7) holds two.
        report.PromptRecall.Should().BeApproximately(2 / 3.0, 1e-12);
        report.PromptRankCorrelation.Should().BeGreaterThan(0.5).And.BeLessThan(1);
    }

    [Fact]
    public void Too_few_trained_prompts_give_no_report()
    {
        var ranking = new LengthRanking(Model);
        var (starts, trained) = Step(1, [0, 1, 2, 3]);
        ranking.Trained(ranking.Predict(starts), trained).Should().BeNull();
    }

    [Fact]
    public async Task The_model_fit_by_the_stateless_worker_forecasts_as_the_ranker_fit_in_process_does()
    {
        var ranking = new LengthRanking(Model);
        var local = new LengthRanker();
        var random = new Random(5);
        // Prompts of 2-9 tokens, each new (no history): only the token model tells them apart; a prompt's
        // length grows with its count of token 7.
        SampleStart Start(int iteration, int g) => new("ranked", iteration, g, $"{iteration}/{g}", 100 * iteration + g,
            [.. Enumerable.Range(0, 2 + random.Next(8)).Select(_ => random.Next(2, 12))], "", 7, 400, 1.0, Scoring, 1);
        int Length(SampleStart s) => 5 + 10 * s.Prompt.Count(t => t == 7);
        for (var iteration = 1; iteration <= 3; iteration++)
        {
            var starts = Enumerable.Range(0, 32).Select(g => Start(iteration, g)).ToArray();
            var forecast = ranking.Predict(starts);
            var expected = local.Predict([.. starts.Select(s => new RankedPrompt(s.ExampleIndex, s.Prompt))]);
            forecast.ByGroup.Values.Should().Equal(expected, (a, b) => Math.Abs(a - b) < 1e-9, $"step {iteration}'s forecast");
            var trained = starts.Select(s => new SampleRecord(SampleStage.Trained, s, "w", new GeneratedResponse([], [], 0, "w", false, EmulatedLength: Length(s)),
                null, null, null, new StageTimes())).ToArray();
            ranking.Trained(forecast, trained);
            local.Observe([.. starts.Select(s => new ObservedPrompt(s.ExampleIndex, s.Prompt, [Length(s)]))]);
            await ranking.Fitted();
        }
        var last = ranking.Predict([.. Enumerable.Range(0, 32).Select(g => Start(4, g))]);
        last.ByGroup.Values.Distinct().Should().HaveCountGreaterThan(10, "the fit tells new prompts apart by their tokens");
    }

    [Fact]
    public async Task A_window_that_cannot_be_fit_is_refused_naming_what_is_wrong()
    {
        var uneven = () => Model.Fit(new LengthModelWindow(16, 1.0, [[1, 2], [3]], [0.5]));
        await uneven.Should().ThrowAsync<ArgumentException>().WithMessage("*2 prompts with 1 scores*");
        var empty = () => Model.Fit(new LengthModelWindow(16, 1.0, [], []));
        await empty.Should().ThrowAsync<ArgumentException>().WithMessage("*no prompt to fit to*");
        var ridge = () => Model.Fit(new LengthModelWindow(16, 0, [[1]], [0.5]));
        await ridge.Should().ThrowAsync<ArgumentException>().WithMessage("*ridge 0*");
        var notANumber = () => Model.Fit(new LengthModelWindow(16, 1.0, [[1]], [double.NaN]));
        await notANumber.Should().ThrowAsync<ArgumentException>().WithMessage("*finite score*");
        (await Model.Fit(new LengthModelWindow(16, 1.0, [[1], [2]], [0.5, -0.5]))).Should().HaveCount(17, "a weight per bucket and the bias");
    }
}
