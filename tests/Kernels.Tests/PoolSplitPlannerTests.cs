using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>The division of a device budget between generation workers and training replicas, against every division tried.</summary>
public sealed class PoolSplitPlannerTests
{
    /// <summary>The fewest seconds any division has, trying each replica count in turn.</summary>
    private static (int Replicas, double Seconds) BruteForce(int budget, int perReplica, int most, Func<int, int, double> step) =>
        Enumerable.Range(1, Math.Min(most, (budget - 1) / perReplica))
            .Select(r => (r, step(budget - r * perReplica, r)))
            .MinBy(x => x.Item2);

    /// <summary>Each pool's work split over its devices, plus a part that does not split (a step's longest sample, its weights' load): the slower pool sets the pace.</summary>
    private static Func<int, int, double> Paced(double generationWork, double trainingWork) => (g, r) => Math.Max(generationWork / g + 3, trainingWork / r + 1);

    [Theory]
    [InlineData(12, 1, 100, 120.0, 60.0)]
    [InlineData(24, 1, 100, 30.0, 400.0)]
    [InlineData(40, 2, 100, 500.0, 90.0)]
    [InlineData(40, 2, 5, 50.0, 900.0)]
    [InlineData(128, 1, 256, 2000.0, 1000.0)]
    [InlineData(257, 1, 256, 100.0, 9000.0)]
    public void The_division_is_the_fastest_of_all_with_each_simulated_once_and_few_simulated(int budget, int perReplica, int most, double generationWork, double trainingWork)
    {
        var step = Paced(generationWork, trainingWork);
        var calls = new List<(int, int)>();

        var division = PoolSplitPlanner.Choose(budget, perReplica, most, (g, r) => { calls.Add((g, r)); return step(g, r); });

        var best = BruteForce(budget, perReplica, most, step);
        division.Seconds.Should().BeApproximately(best.Seconds, 1e-9);
        (division.GenerationWorkers + division.TrainingReplicas * perReplica).Should().Be(budget, "the division spends the whole budget");
        division.Seconds.Should().Be(step(division.GenerationWorkers, division.TrainingReplicas));
        var divisions = Math.Min(most, (budget - 1) / perReplica);
        calls.Should().OnlyHaveUniqueItems().And.HaveCountLessThanOrEqualTo(Math.Min(divisions, 4 + 2 * (int)Math.Ceiling(Math.Log(divisions) / Math.Log(1.618))),
            "golden-section search, not one simulation per division");
    }

    [Fact]
    public void A_step_that_is_not_the_slower_pools_pace_is_still_searched_to_its_fastest_division()
    {
        // Two steps in flight: a step's latency (generation, then training) over two, or each pool's pace, whichever is longest.
        double Generation(int g) => 600.0 / g + 20;
        double Training(int r) => 200.0 / r + 1;
        double Step(int g, int r) => Math.Max(Math.Max(Generation(g), Training(r)), (Generation(g) + Training(r)) / 2);

        var division = PoolSplitPlanner.Choose(60, 1, 100, Step);

        division.Seconds.Should().BeApproximately(BruteForce(60, 1, 100, Step).Seconds, 1e-9);
        division.TrainingReplicas.Should().Be(BruteForce(60, 1, 100, Step).Replicas);
    }

    [Fact]
    public void Where_every_replica_still_trains_slower_than_generation_the_most_replicas_win()
    {
        var division = PoolSplitPlanner.Choose(10, 1, 4, (g, r) => Math.Max(1.0, 100.0 / r));

        (division.GenerationWorkers, division.TrainingReplicas).Should().Be((6, 4), "4 replicas are the most the step can keep busy, 25 s against 1 s");
    }

    [Fact]
    public void A_move_is_one_replica_towards_the_best_and_only_when_it_pays_for_itself()
    {
        // Generation-bound at 4 replicas of 12: the best is 3 replicas (9 workers: 13.3 s of each).
        double Step(int g, int r) => Math.Max(120.0 / g, 40.0 / r);

        var moved = PoolSplitPlanner.Next(12, 1, 100, 4, Step, moveSeconds: 1, horizon: 4);
        var kept = PoolSplitPlanner.Next(12, 1, 100, 4, Step, moveSeconds: 1000, horizon: 4);
        var there = PoolSplitPlanner.Next(12, 1, 100, moved.TrainingReplicas, Step, moveSeconds: 1, horizon: 4);

        // 4 replicas: max(120 / 8, 10) = 15 s; 3: max(120 / 9, 13.3) = 13.3 s; a gain of 1.67 s a step, 6.7 over 4 steps.
        (moved.GenerationWorkers, moved.TrainingReplicas).Should().Be((9, 3));
        moved.Seconds.Should().BeApproximately(120.0 / 9, 1e-9);
        (kept.GenerationWorkers, kept.TrainingReplicas).Should().Be((8, 4), "1,000 s of moving are not won back in 4 steps");
        kept.Seconds.Should().Be(15);
        // 3 replicas against 2: max(13.3, 13.3) = 13.3 s; 2: max(12, 20) = 20 s: the best stays.
        (there.GenerationWorkers, there.TrainingReplicas).Should().Be((9, 3));
    }

    [Fact]
    public void A_budget_with_no_room_for_a_worker_beside_a_replica_is_refused()
    {
        var choose = () => PoolSplitPlanner.Choose(2, 2, 10, (g, r) => 1);
        var next = () => PoolSplitPlanner.Next(10, 1, 100, 10, (g, r) => 1, 0, 1);

        choose.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*budget of 2 workers' devices holds no worker beside a replica of 2*");
        next.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*between 1 and 9*");
    }

    [Theory]
    [InlineData(40.0, 100, 64, 1.0, 1.0)]
    [InlineData(40.0, 100, 64, 0.45, 1.0)]
    [InlineData(25.0, 160, 64, 0.45, 2.0)]
    [InlineData(60.0, 30, 8, 1.0, 3.0)]
    [InlineData(19.0, 200, 100, 1.0, 1.0)]
    public void Sized_to_a_target_the_pools_are_the_cheapest_of_all_that_meet_it(double seconds, int maxWorkers, int maxReplicas, double workerCost, double replicaCost)
    {
        // Training: its work split over the replicas, plus what does not split. A step: training, the generation
        // work over the workers plus the longest sample, or a step's latency (longest sample and its training) over 2 steps in flight.
        double Training(int r) => 300.0 / r + 2;
        double Step(int g, int r) => Math.Max(Training(r), Math.Max(900.0 / g + 5, (30 + Training(r)) / 2));
        var calls = new List<(int, int)>();

        var division = PoolSplitPlanner.Cheapest(seconds, maxWorkers, maxReplicas, workerCost, replicaCost, (g, r) => { calls.Add((g, r)); return Step(g, r); }, Training)!;

        var all = (from g in Enumerable.Range(1, maxWorkers) from r in Enumerable.Range(1, maxReplicas)
                   where Step(g, r) <= seconds select g * workerCost + r * replicaCost).ToArray();
        (division.GenerationWorkers * workerCost + division.TrainingReplicas * replicaCost).Should().BeApproximately(all.Min(), 1e-9);
        division.Seconds.Should().BeLessThanOrEqualTo(seconds);
        division.Seconds.Should().Be(Step(division.GenerationWorkers, division.TrainingReplicas), "a division's step is what the step gives");
        calls.Count.Should().BeLessThan(maxWorkers * maxReplicas / 4, "bisection over the workers once, then steps down, not every division");
    }

    [Fact]
    public void A_cheaper_worker_buys_workers_in_place_of_replicas()
    {
        // Within 40 s: 900 / g + 5 from g = 26; a replica count r needs (30 + 300 / r + 2) / 2 <= 40 and 300 / r + 2 <= 40: r >= 8.
        double Training(int r) => 300.0 / r + 2;
        double Step(int g, int r) => Math.Max(Training(r), Math.Max(900.0 / g + 5, (30 + Training(r)) / 2));

        var division = PoolSplitPlanner.Cheapest(40, 100, 64, 1, 1, Step, Training)!;

        (division.GenerationWorkers, division.TrainingReplicas).Should().Be((26, 8), "39.6 s of generation and 39.5 s of training, the fewest of each");
    }

    [Fact]
    public void A_target_the_most_devices_miss_has_no_size_and_a_bad_target_is_refused()
    {
        PoolSplitPlanner.Cheapest(10, 100, 3, 1, 1, (g, r) => 5, r => 48.0 / r).Should().BeNull("3 replicas train a step in 16 s");
        PoolSplitPlanner.Cheapest(10, 4, 100, 1, 1, (g, r) => 60.0 / g, r => 1).Should().BeNull("4 workers generate it in 15 s");
        var zero = () => PoolSplitPlanner.Cheapest(0, 10, 10, 1, 1, (g, r) => 1, r => 1);
        var free = () => PoolSplitPlanner.Cheapest(10, 10, 10, 0, 1, (g, r) => 1, r => 1);
        zero.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*positive*");
        free.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*workerCost*");
    }
}
