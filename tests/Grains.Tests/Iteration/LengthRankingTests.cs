using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>The job's length ranking: a step's forecast, made at launch, scored against the trained samples' lengths, and learned from.</summary>
public sealed class LengthRankingTests
{
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
    public void A_prompt_seen_before_is_forecast_from_its_earlier_lengths()
    {
        var ranking = new LengthRanking();
        var (starts, trained) = Step(1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);

        var first = ranking.Predict(starts);
        var firstReport = ranking.Trained(first, trained)!;
        first.KnownShare.Should().Be(0);
        firstReport.PromptRankCorrelation.Should().Be(0, "every prompt is forecast alike before any is seen");

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
        var ranking = new LengthRanking();
        var (starts, trained) = Step(1, [0, 1, 2, 3]);
        ranking.Trained(ranking.Predict(starts), trained).Should().BeNull();
    }
}
