using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>An asynchronous job's steps on a generation pool, against times composed from each sequence simulated alone.</summary>
public sealed class AsyncPipelineSimulationTests
{
    private static readonly CostModel H800 = new(DeviceClass.Parse("H800"), ModelShape.Parse("qwen2.5-7b"));

    private static EmulatedSequence[] Step(int step, params int[] lengths) => [.. lengths.Select((n, k) => new EmulatedSequence($"{step}/{k}", 100, n))];

    /// <summary>A batch's seconds to generate the sequences together, admitted at once.</summary>
    private static double Alone(params EmulatedSequence[] sequences) => EmulatedBatch.Simulate(H800, 8, sequences).Seconds;

    [Fact]
    public void On_one_worker_without_staleness_each_step_is_generated_then_trained_before_the_next_begins()
    {
        IReadOnlyList<EmulatedSequence>[] steps = [Step(0, 300, 50, 120), Step(1, 80, 400), Step(2, 10)];
        double Training(int j) => 2.0 + j;

        var (generated, trained) = AsyncPipelineSimulation.Run(H800, 8, 1, 0, steps, Training);

        var end = 0.0;
        for (var j = 0; j < steps.Length; j++)
        {
            generated[j].Should().BeApproximately(end + Alone([.. steps[j]]), 1e-6);
            end = generated[j] + Training(j);
            trained[j].Should().BeApproximately(end, 1e-6);
        }
        AsyncPipelineSimulation.StepSeconds(H800, 8, 1, 0, steps, Training, 1).Should().BeApproximately((trained[2] - trained[0]) / 2, 1e-9);
    }

    [Fact]
    public void A_worker_holding_an_older_steps_response_takes_none_of_a_newer_steps_and_freed_workers_start_it()
    {
        // One step ahead, two workers, a share of one sample each. Step 1: a long response and a short one;
        // steps 2 and 3: two short ones each.
        IReadOnlyList<EmulatedSequence>[] steps = [Step(0, 2000, 200), Step(1, 200, 200), Step(2, 200, 200)];
        const double training = 0.5;
        var (longOne, shortOne) = (Alone(steps[0][0]), Alone(steps[0][1]));
        (3 * shortOne).Should().BeLessThan(longOne, "the case needs step 2 generated while step 1's long response runs");

        var (generated, trained) = AsyncPipelineSimulation.Run(H800, 8, 2, 1, steps, _ => training);

        // Worker 1 generates its short response, then both of step 2's one after the other (pull: the next
        // when its own finishes); worker 0, holding step 1's long response, takes none of them.
        generated[1].Should().BeApproximately(3 * shortOne, 1e-6);
        generated[0].Should().BeApproximately(longOne, 1e-6);
        trained[0].Should().BeApproximately(longOne + training, 1e-6);
        trained[1].Should().BeApproximately(longOne + 2 * training, 1e-6, "step 2 trains after step 1");
        // Step 3 is launched once step 1 has trained, and both workers, free, take a response each.
        generated[2].Should().BeApproximately(longOne + training + shortOne, 1e-6);
        trained[2].Should().BeApproximately(Math.Max(generated[2], trained[1]) + training, 1e-6);
    }

    [Fact]
    public void Bad_arguments_are_refused_naming_them()
    {
        IReadOnlyList<EmulatedSequence>[] steps = [Step(0, 10), Step(1, 10)];

        FluentActions.Invoking(() => AsyncPipelineSimulation.StepSeconds(H800, 8, 0, 1, steps, _ => 1, 1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("workers");
        FluentActions.Invoking(() => AsyncPipelineSimulation.StepSeconds(H800, 8, 1, 1, steps, _ => 1, 2)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("warmUp");
        FluentActions.Invoking(() => AsyncPipelineSimulation.StepSeconds(H800, 8, 1, -1, steps, _ => 1, 1)).Should().Throw<ArgumentOutOfRangeException>().WithParameterName("staleness");
    }
}
