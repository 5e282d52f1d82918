using Kernels.Emulation;

namespace Kernels.Tests;

public sealed class ToolCallPlanTests
{
    private static readonly ToolCallPlan Plan = new(MeanCalls: 2, MaxTurns: 8, MedianSeconds: 1.5, Sigma: 1, ResultTokens: 40);

    [Fact]
    public void Calls_are_drawn_from_the_seed_in_order_inside_the_response_and_lengthen_it_by_their_results()
    {
        Plan.Draw(7, 500, 4096).Should().BeEquivalentTo(Plan.Draw(7, 500, 4096), o => o.WithStrictOrdering(), "any worker draws the same calls");
        for (var seed = 0L; seed < 500; seed++)
        {
            var (calls, length) = Plan.Draw(seed, 500, 4096);
            length.Should().Be(500 + calls.Length * 40);
            calls.Length.Should().BeLessThanOrEqualTo(8);
            for (var k = 0; k < calls.Length; k++)
            {
                // The k-th call stands after k earlier results, at one of the model's own tokens 1..499.
                (calls[k].Position - k * 40).Should().BeInRange(1, 499);
                if (k > 0) calls[k].Position.Should().BeGreaterThanOrEqualTo(calls[k - 1].Position + 40, "a call comes after the previous one's result");
                calls[k].Seconds.Should().BePositive();
            }
        }
    }

    [Fact]
    public void Over_many_responses_the_calls_average_their_mean_and_the_latency_has_its_median()
    {
        var draws = Enumerable.Range(0, 20_000).Select(s => Plan.Draw(s, 1000, 100_000).Calls).ToArray();
        draws.Average(c => c.Length).Should().BeApproximately(2, 0.05, "Poisson with mean 2 (the cap of 8 takes off ~0.1 %)");
        var seconds = draws.SelectMany(c => c.Select(x => x.Seconds)).Order().ToArray();
        seconds[seconds.Length / 2].Should().BeApproximately(1.5, 0.05);
        // Log-normal with sigma 1: the 84th percentile is e times the median.
        seconds[(int)(seconds.Length * 0.8413)].Should().BeApproximately(1.5 * Math.E, 0.15);
    }

    [Fact]
    public void Calls_whose_results_would_not_fit_the_token_budget_are_not_made_and_a_one_token_response_makes_none()
    {
        for (var seed = 0L; seed < 200; seed++)
        {
            var (calls, length) = Plan.Draw(seed, 900, 1000);
            calls.Length.Should().BeLessThanOrEqualTo(2, "two results of 40 fit in the 100 tokens left");
            length.Should().BeLessThanOrEqualTo(1000);
        }
        Plan.Draw(3, 1, 1000).Calls.Should().BeEmpty();
        (Plan with { Sigma = 0 }).Draw(11, 300, 4096).Calls.Should().OnlyContain(c => Math.Abs(c.Seconds - 1.5) < 1e-12, "no spread: every call takes the median");
    }
}
