using FluentAssertions;
using Grains.Iteration;

namespace Grains.Tests.Iteration;

public class LostSharesTests
{
    [Fact]
    public void A_machines_lost_replicas_go_one_to_each_survivor_when_there_are_enough()
    {
        // 32 replicas of equal shares, the 8 of one machine lost: 8 different survivors, one extra share each.
        var tokens = Enumerable.Repeat(1_000L, 32).ToArray();
        int[] lost = [8, 9, 10, 11, 12, 13, 14, 15];
        var survivors = Enumerable.Range(0, 32).Except(lost).ToArray();

        var order = LostShares.Order(lost, survivors, tokens);

        order.Select(o => o[0]).Should().OnlyHaveUniqueItems().And.BeSubsetOf(survivors);
        order.Should().AllSatisfy(o => o.Should().BeEquivalentTo(survivors, "every survivor is there to ask if the first is lost too"));
    }

    [Fact]
    public void The_largest_lost_share_goes_first_to_the_least_loaded_survivor()
    {
        // Replica loads 100, 40 (lost), 70, 90 (lost), 10 (lost): survivors 0 (100) and 2 (70).
        // Largest lost first: 3 (90) -> 2 (70 -> 160); 1 (40) -> 0 (100 -> 140); 4 (10) -> 0 (140 -> 150).
        long[] tokens = [100, 40, 70, 90, 10];

        var order = LostShares.Order([1, 3, 4], [0, 2], tokens);

        order.Should().BeEquivalentTo(new[] { new[] { 0, 2 }, new[] { 2, 0 }, new[] { 0, 2 } }, o => o.WithStrictOrdering());
    }

    [Fact]
    public void With_no_survivor_it_says_so()
    {
        var act = () => LostShares.Order([0, 1], [], [5, 5]);

        act.Should().Throw<ArgumentException>().WithMessage("no surviving replica*");
    }
}
