using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>The simulation that chooses skew-aware dispatch's long-tail workers, against batches simulated alone.</summary>
public sealed class SkewPlannerTests
{
    private static readonly CostModel Cost = new(DeviceClass.H800, ModelShape.Qwen25_7B);

    /// <summary>One response of 4,000 tokens and seven of 1,500, forecast in order of length (the long one first).</summary>
    private static readonly (EmulatedSequence, double)[] Step =
    [
        (new("long", 256, 4000), 2.0),
        .. Enumerable.Range(0, 7).Select(k => (new EmulatedSequence($"mid{k}", 256, 1500), 1.0 - k / 100.0)),
    ];

    private static EmulatedSequence[] Named(params string[] ids) => [.. ids.Select(id => Step.Select(s => s.Item1).Single(s => s.Id == id))];

    [Fact]
    public void Without_long_tail_workers_the_order_is_dealt_round_robin_in_fair_shares()
    {
        // Two workers, shares of four: worker 0 gets long, mid1, mid3, mid5; worker 1 mid0, mid2, mid4, mid6.
        var seconds = SkewPlanner.Simulate(Cost, capacity: 8, workers: 2, Step, longWorkers: 0, longBatch: 0);

        var first = EmulatedBatch.Simulate(Cost, 4, Named("long", "mid1", "mid3", "mid5")).Seconds;
        var second = EmulatedBatch.Simulate(Cost, 4, Named("mid0", "mid2", "mid4", "mid6")).Seconds;
        seconds.Should().BeApproximately(Math.Max(first, second), 1e-9);
    }

    [Fact]
    public void A_long_tail_worker_runs_the_forecast_longest_alone_and_the_others_share_the_rest()
    {
        var seconds = SkewPlanner.Simulate(Cost, capacity: 8, workers: 2, Step, longWorkers: 1, longBatch: 1);

        var alone = EmulatedBatch.Simulate(Cost, 1, Named("long")).Seconds;
        var rest = EmulatedBatch.Simulate(Cost, 7, Named("mid0", "mid1", "mid2", "mid3", "mid4", "mid5", "mid6")).Seconds;
        seconds.Should().BeApproximately(Math.Max(alone, rest), 1e-9);
        alone.Should().BeLessThan(EmulatedBatch.Simulate(Cost, 4, Named("long", "mid1", "mid3", "mid5")).FinishedAt["long"], "alone, each of its tokens is decoded sooner");
    }

    [Fact]
    public void A_long_tail_instance_of_more_devices_decodes_the_forecast_longest_on_its_own_cost_model_and_only_its_batch_is_chosen()
    {
        var four = new CostModel(DeviceClass.H800, ModelShape.Qwen25_7B, tensorParallel: 4);

        var seconds = SkewPlanner.Simulate(Cost, capacity: 8, workers: 2, Step, longWorkers: 1, longBatch: 1, longCost: four);

        var alone = EmulatedBatch.Simulate(four, 1, Named("long")).Seconds;
        var rest = EmulatedBatch.Simulate(Cost, 7, Named("mid0", "mid1", "mid2", "mid3", "mid4", "mid5", "mid6")).Seconds;
        seconds.Should().BeApproximately(Math.Max(alone, rest), 1e-9);
        alone.Should().BeLessThan(EmulatedBatch.Simulate(Cost, 1, Named("long")).Seconds / 2, "four devices read the weights for each token, and the step overhead stays");
        var chosen = SkewPlanner.ChooseBatch(Cost, new LongTailInstances(four, 1), 8, 2, Step);
        var each = SkewPlanner.LongBatches.Where(b => b < Step.Length).Select(b => SkewPlanner.Simulate(Cost, 8, 2, Step, 1, b, four)).ToArray();
        chosen.LongWorkers.Should().Be(1, "the instances are the workload's");
        chosen.Seconds.Should().Be(each.Min());
        SkewPlanner.Simulate(Cost, 8, 2, Step, 1, chosen.LongBatch, four).Should().Be(chosen.Seconds);
    }

    [Fact]
    public void The_chosen_split_is_the_soonest_and_plain_unless_one_beats_it_by_the_margin()
    {
        var plain = SkewPlanner.Simulate(Cost, 8, 2, Step, 0, 0);
        var splits = SkewPlanner.LongBatches.Where(b => b < Step.Length).Select(b => (Batch: b, Seconds: SkewPlanner.Simulate(Cost, 8, 2, Step, 1, b))).ToArray();
        var best = splits.MinBy(s => s.Seconds);

        var chosen = SkewPlanner.Choose(Cost, 8, 2, Step);

        if (best.Seconds < plain * 0.99) chosen.Should().Be(new SkewPlanner.Split(1, best.Batch, best.Seconds));
        else chosen.Should().Be(new SkewPlanner.Split(0, 0, plain));
        SkewPlanner.Choose(Cost, 8, 2, Step, margin: 1).Should().Be(new SkewPlanner.Split(0, 0, plain), "nothing beats plain by 100 %");
    }

    [Fact]
    public void A_leap_to_the_next_finish_takes_what_the_steps_to_it_take()
    {
        var stepped = new EmulatedBatch(Cost, 4);
        var leapt = new EmulatedBatch(Cost, 4);
        foreach (var s in Named("long", "mid0", "mid1"))
        {
            stepped.Add(s);
            leapt.Add(s);
        }

        var (seconds, finished) = leapt.Leap();

        // 1,500 steps (the first with the three prompts' prefill) until the two of 1,500 tokens end together.
        var (total, steps) = (0.0, 0);
        IReadOnlyList<EmulatedSequence> ended = [];
        while (ended.Count == 0)
        {
            var step = stepped.Step();
            (total, ended, steps) = (total + step.Seconds, step.Finished, steps + 1);
        }
        steps.Should().Be(1500);
        seconds.Should().BeApproximately(total, total * 1e-12);
        finished.Select(f => f.Id).Should().BeEquivalentTo("mid0", "mid1");
        leapt.Sequences.Should().Equal(stepped.Sequences);
    }

    [Fact]
    public void Bad_splits_are_refused()
    {
        var act = () => SkewPlanner.Simulate(Cost, 8, 2, Step, longWorkers: 2, longBatch: 1);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*between 0 and 1*");
        act = () => SkewPlanner.Simulate(Cost, 8, 2, Step, longWorkers: 1, longBatch: 0);
        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*at least 1*");
    }
}
