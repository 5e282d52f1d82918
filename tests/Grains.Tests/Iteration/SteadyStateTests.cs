using FluentAssertions;
using Grains.Engines;
using Grains.Interfaces.Rl;
using Kernels.Emulation;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>Bench's steady-state figures, by hand over two measured iterations.</summary>
public sealed class SteadyStateTests
{
    [Fact]
    public void Throughput_is_the_runs_samples_and_tokens_over_its_emulated_seconds()
    {
        var workload = Workload([(100, 50), (100, 150)]);
        IterationMetrics[] measured =
        [
            new() { Iteration = 2, IterationSeconds = 2, GenerationSeconds = 1.5, TimeScale = 10 },
            new() { Iteration = 3, IterationSeconds = 3, GenerationSeconds = 1.5, TimeScale = 10 },
        ];

        var steady = SteadyState.Of(measured, [workload, workload], w => 20);

        steady.Seconds.Should().Be(50, "2 and 3 wall seconds at 10 emulated seconds each");
        steady.SamplesPerSecond.Should().Be(4 / 50.0);
        steady.TokensPerSecond.Should().Be(400 / 50.0, "responses' tokens: (50 + 150) per iteration");
        steady.SecondsPerIteration.Should().Be(25);
        steady.GenerationShare.Should().Be((0.75 + 0.5) / 2);
        steady.PredictionError.Should().BeApproximately(50 / 40.0 - 1, 1e-12);
        steady.BoundSeconds.Should().BeApproximately(2 * IdealBound.For(workload).Seconds, 1e-9);
        SteadyState.Of(measured, [workload, workload], null, staleness: 2).BoundSeconds.Should().BeApproximately(2 * IdealBound.For(workload, 2).Seconds, 1e-9);
        steady.Efficiency.Should().BeApproximately(steady.BoundSeconds / 50, 1e-12);
        SteadyState.Of(measured, [workload, workload], null).PredictionError.Should().BeNull();
        FluentActions.Invoking(() => SteadyState.Of(measured, [workload, workload], null)).Should().NotThrow();
        FluentActions.Invoking(() => SteadyState.Of(measured, [workload], null)).Should().Throw<ArgumentException>();
    }

    [Fact]
    public void Tokens_are_those_of_the_responses_each_iteration_trained_where_its_ledger_says_which()
    {
        // A tail-batching round trains responses other than its workload's (those that finished first): 2 of mean length 40.
        var workload = Workload([(100, 50), (100, 150)]);
        IterationMetrics[] measured =
        [
            new() { Iteration = 2, IterationSeconds = 2, TimeScale = 10, LengthMean = 40, Ledger = new StepLedger { Created = 5, Trained = 2, Discarded = 3 } },
            new() { Iteration = 3, IterationSeconds = 3, TimeScale = 10 },
        ];

        var steady = SteadyState.Of(measured, [workload, workload], null);

        steady.TokensPerSecond.Should().Be((80 + 200) / 50.0, "2 x 40 trained, then the workload's 50 + 150 where no ledger says");
        steady.SamplesPerSecond.Should().Be(4 / 50.0);
    }

    private static EmulatedWorkload Workload((int, int)[] samples)
    {
        var cost = new CostModel(DeviceClass.H100, ModelShape.Qwen25_7B);
        return new EmulatedWorkload(samples, cost, 1, 8, [cost], 1, cost, null, [[[0, 1]]], Link.InfiniBand);
    }
}
