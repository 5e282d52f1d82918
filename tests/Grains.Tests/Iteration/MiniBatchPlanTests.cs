using FluentAssertions;
using Grains.Data;
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
}
