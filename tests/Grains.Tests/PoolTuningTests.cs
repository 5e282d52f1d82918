using Grains.Interfaces.Jobs;
using Grains.Iteration;
using Kernels.Emulation;

namespace Grains.Tests;

/// <summary>The pools' division on real devices, planned from measured busy seconds (no cost model).</summary>
public sealed class PoolTuningTests
{
    private static JobSpec Job(PoolsSpec pools, int workers = 1, int replicas = 4, int iterations = 20)
    {
        var tiny = RlJobTests.Tiny("pools-real", iterations);
        return tiny with { Rl = tiny.Rl! with { GenerationWorkers = workers, TrainingReplicas = replicas, Async = new AsyncSpec { MaxStaleness = 1 }, Pools = pools } };
    }

    [Fact]
    public void Split_auto_moves_a_unit_a_step_towards_the_measured_fastest_division_and_then_stays()
    {
        var pools = new PoolTuning(Job(new PoolsSpec { Split = PoolSplit.Auto }), emulated: null);
        // Budget 5. Generation measures 8 s a step on its one worker, training 1 s a replica on four:
        // T(G, R) = max(8 / G, 4 / R); over G + R = 5 the fastest is G = 3, R = 2 (max(2.67, 2)).
        var replicas = new List<int>();
        for (var step = 1; step <= 4; step++)
        {
            var under = pools.Current;
            pools.Trained(step, [], under, 8.0 / under.GenerationWorkers, 4.0 / under.TrainingReplicas);
            if (pools.Due() is { } next) pools.Moved(next, seconds: 30);
            replicas.Add(pools.Current.TrainingReplicas);
        }

        replicas.Should().Equal([3, 2, 2, 2], "one unit a step, whatever a move costs, until the division is the fastest");
        pools.Current.GenerationWorkers.Should().Be(3);
        pools.Planning.Should().BeFalse("the split settled and the pools are not elastic");
        pools.Current.Seconds.Should().BeApproximately(8.0 / 3, 1e-9);
    }

    [Fact]
    public void Elastic_pools_on_real_devices_move_only_when_the_gain_over_the_horizon_beats_the_last_measured_move()
    {
        var pools = new PoolTuning(Job(new PoolsSpec { Elastic = true }, workers: 2, replicas: 3), emulated: null);
        var under = pools.Current;
        // Budget 5 at G = 2, R = 3: generation 3 s, training 1 s: T = 3; at G = 3, R = 2: max(2, 1.5) = 2, a gain
        // of 1 s a step, 4 s over the horizon of 4 steps. The first move is made on its gain alone.
        pools.Trained(1, [], under, 3, 1);
        var first = pools.Due();
        first.Should().NotBeNull();
        (first!.GenerationWorkers, first.TrainingReplicas).Should().Be((3, 2));
        pools.Moved(first, seconds: 5);

        // From G = 3, R = 2: generation 2.4 s, training 1 s (R = 1 would be 2 s): the gain of 0.4 s a step, 1.6 s
        // over the horizon, does not pay for a move measured at 5 s; with the move measured at 1 s it does.
        pools.Trained(2, [], pools.Current, 2.4, 1);
        pools.Due().Should().BeNull();
        pools.Current.TrainingReplicas.Should().Be(2);
        pools.Moved(pools.Current, seconds: 1);
        pools.Trained(3, [], pools.Current, 2.4, 1);
        pools.Due()!.TrainingReplicas.Should().Be(1);
    }
}
