using FluentAssertions;
using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Xunit;

namespace Grains.Tests.Iteration;

public sealed class MiniBatchPlanTests
{
    [Fact]
    public void Balanced_shares_put_the_long_sequences_on_different_replicas_where_contiguous_shares_stack_them()
    {
        // Two long responses side by side: contiguous halves give one replica 2 x 1000 + 10 tokens.
        long[] tokens = [1000, 1000, 10, 10, 10, 10];
        var contiguous = new[] { 0, 1 }.Select(r => MiniBatchPlan.Share(Enumerable.Range(0, 6).ToArray(), r, 2).Sum(k => tokens[k])).ToArray();
        contiguous.Should().Equal(2010, 30);

        var shares = MiniBatchPlan.BalancedShares(tokens, 2);

        // By hand: 1000 -> r0, 1000 -> r1 (r0 fuller), then the 10s alternate: r0 gets 2 and 4, r1 gets 3 and 5.
        shares.Should().BeEquivalentTo(new[] { new[] { 0, 2, 4 }, new[] { 1, 3, 5 } }, o => o.WithStrictOrdering());
        shares.Select(s => s.Sum(k => tokens[k])).Should().Equal(1020, 1020);
    }

    [Fact]
    public void Balanced_shares_cover_every_position_once_and_keep_each_share_in_mini_batch_order()
    {
        var random = new Random(7);
        var tokens = Enumerable.Range(0, 97).Select(_ => (long)random.Next(1, 5000)).ToArray();

        var shares = MiniBatchPlan.BalancedShares(tokens, 6);

        shares.SelectMany(s => s).Order().Should().Equal(Enumerable.Range(0, 97));
        shares.Should().OnlyContain(s => s.SequenceEqual(s.Order()));
        // Longest-first greedy: no replica exceeds the mean by more than the longest sequence.
        var loads = shares.Select(s => s.Sum(k => tokens[k])).ToArray();
        loads.Max().Should().BeLessThanOrEqualTo((long)Math.Ceiling(tokens.Sum() / 6.0) + tokens.Max());
    }

    [Fact]
    public void Equal_lengths_split_as_evenly_as_counts_allow_and_fewer_rows_than_replicas_leave_some_empty()
    {
        MiniBatchPlan.BalancedShares(Enumerable.Repeat(5L, 7).ToArray(), 3).Select(s => s.Length).Should().Equal(3, 2, 2);
        MiniBatchPlan.BalancedShares([9L], 2).Should().BeEquivalentTo(new[] { new[] { 0 }, Array.Empty<int>() });
        FluentActions.Invoking(() => MiniBatchPlan.BalancedShares([1L], 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*replica*");
    }

    [Fact]
    public void Long_together_gathers_the_long_sequences_one_per_replica_into_the_first_mini_batches_and_keeps_the_others_shuffle()
    {
        // 275 tokens over 2 mini-batches x 2 replicas: long above 275 / 8 = 34.4, so rows 0 (100), 4 (90) and 7 (80).
        long[] tokens = [100, 1, 1, 1, 90, 1, 1, 80];
        int[][] shuffled = [[3, 0, 6, 1], [4, 2, 7, 5]];

        var gathered = MiniBatchPlan.LongTogether(shuffled, tokens, replicas: 2);

        // By hand: the first takes the two longest (0, 4), then the others in shuffled order (3, 6); the second
        // the last long one (7), then 1, 2, 5.
        gathered.Should().BeEquivalentTo(new[] { new[] { 0, 4, 3, 6 }, new[] { 7, 1, 2, 5 } }, o => o.WithStrictOrdering());
        MiniBatchPlan.LongTogether(shuffled, tokens, replicas: 3)[0].Should().Equal(0, 4, 7, 3);
        FluentActions.Invoking(() => MiniBatchPlan.LongTogether(shuffled, tokens, 0)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*replica*");
    }

    [Fact]
    public void The_jobs_plan_is_the_shuffle_unless_long_together_which_cuts_each_epoch_of_the_same_rows_in_the_same_sizes()
    {
        var random = new Random(3);
        var tokens = Enumerable.Range(0, 90).Select(k => (long)(k % 9 == 0 ? 20_000 + random.Next(5000) : random.Next(50, 3000))).ToArray();
        var rl = new RlSpec { MiniBatches = 3, Epochs = 2, TrainingReplicas = 4 };

        var shuffled = MiniBatchPlan.For(rl, 11, 5, tokens);
        var gathered = MiniBatchPlan.For(rl with { MiniBatchOrder = MiniBatchOrder.LongTogether }, 11, 5, tokens);

        shuffled.Should().BeEquivalentTo(MiniBatchPlan.Steps(90, 2, 3, 11, 5), o => o.WithStrictOrdering());
        gathered.Select(m => m.Length).Should().Equal(shuffled.Select(m => m.Length));
        foreach (var epoch in gathered.Chunk(3)) epoch.SelectMany(m => m).Should().BeEquivalentTo(Enumerable.Range(0, 90));
        // Ten rows of 20,000+ tokens, long against a threshold of total / 24 (about 14,500): four, four and two per mini-batch.
        gathered.Select(m => m.Count(k => tokens[k] >= 20_000)).Should().Equal(4, 4, 2, 4, 4, 2);
        shuffled.Select(m => m.Count(k => tokens[k] >= 20_000)).Should().NotEqual([4, 4, 2, 4, 4, 2]);
    }

    [Fact]
    public void Long_together_shortens_the_emulated_H20_steps_training_where_every_mini_batch_waited_for_a_32k_sequence()
    {
        var file = Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", "grpo-7b-128xh20-reasoning32k.json");
        var spec = JobSpec.FromJson(File.ReadAllText(file), "h20");
        var gatheredSpec = spec with { Rl = spec.Rl! with { MiniBatchOrder = MiniBatchOrder.LongTogether } };
        var samples = new EmulatedJob(spec).Workload(4).Samples;

        // Decoupled PPO's proximal forward is in both; the optimizer steps are what differ.
        var shuffled = new EmulatedJob(spec).TrainingSeconds(samples, 48, 4);
        var gathered = new EmulatedJob(gatheredSpec).TrainingSeconds(samples, 48, 4);

        samples.Count(s => s.Response == 32_768).Should().BeGreaterThan(4, "every shuffled mini-batch holds a 32k response");
        gathered.Should().BeLessThan(0.8 * shuffled);
        new EmulatedJob(gatheredSpec).Workload(4).TrainingSteps.Should().HaveCount(4).And.OnlyContain(step => step.Count == 48);
    }
}
