using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Tests;

/// <summary>rl.pools split target: an asynchronous job's pools sized at its start to the cheapest devices that meet a throughput.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PoolTargetTests(ClusterFixture fixture)
{
    /// <summary>
    /// A grpo job of 6 x 4 reasoning samples a step, one step ahead: at most 6 generation workers and 4
    /// training replicas, on H100s, or generating on <paramref name="generationClass"/> at <paramref name="prices"/>.
    /// </summary>
    private static JobSpec Job(string name, PoolsSpec pools, string? generationClass = null, Dictionary<string, double>? prices = null) => new()
    {
        Name = name,
        Kind = JobKind.Rl,
        Iterations = 3,
        Seed = 5,
        Rl = new RlSpec
        {
            Algorithm = Algorithm.Grpo, Devices = DeviceKind.Emulated, PromptsPerIteration = 6, SamplesPerPrompt = 4, MiniBatches = 2,
            GenerationWorkers = 6, TrainingReplicas = 4, MaxBatch = 8, Dispatch = DispatchPolicy.Pull,
            Async = new AsyncSpec { MaxStaleness = 1 }, Pools = pools,
            Emulation = new EmulationSpec
            {
                DeviceClass = "H100", GenerationDeviceClass = generationClass, Prices = prices, Actor = "qwen2.5-7b", InferenceDevices = 2,
                Lengths = "reasoning", PromptLength = 256, TimeScale = 20,
            },
        },
    };

    private static PoolsSpec Target(double samplesPerSecond) => new() { Split = PoolSplit.Target, SamplesPerSecond = samplesPerSecond };

    /// <summary>The cheapest cost of any division whose steady step meets <paramref name="seconds"/>, trying every one.</summary>
    private static double Cheapest(EmulatedJob emulated, double seconds, double workerCost, double replicaCost)
    {
        return (from g in Enumerable.Range(1, 6) from r in Enumerable.Range(1, 4)
                where emulated.PipelinedStepSeconds(g, r) <= seconds select g * workerCost + r * replicaCost).Min();
    }

    [Fact]
    public async Task A_target_job_runs_on_the_cheapest_pools_whose_steady_step_meets_it()
    {
        var grains = fixture.Cluster.GrainFactory;
        var probe = new EmulatedJob(Job("pools-target", new PoolsSpec()));
        // The target is the step 3 workers and 2 replicas simulate: no division needs more, a cheaper one may do.
        var seconds = probe.PipelinedStepSeconds(3, 2);
        var spec = Job("pools-target", Target(24 / seconds));
        var sized = new EmulatedJob(spec).SizedPools();

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        ((double)sized.GenerationWorkers + sized.TrainingReplicas).Should().Be(Cheapest(probe, seconds * (1 + 1e-12), 1, 1), "without prices the fewest devices are the cheapest");
        sized.Seconds.Should().BeLessThanOrEqualTo(seconds * (1 + 1e-12));
        metrics.Should().OnlyContain(m => m.Pools == new PoolSizes(sized.GenerationWorkers, sized.TrainingReplicas), "sized once, at the start");
        metrics.Should().OnlyContain(m => m.Ledger!.Lost == 0 && m.Ledger.Trained == 24);
        metrics.Skip(1).Max(m => m.DeviceBusy.Keys.Count(k => k.Contains("/g"))).Should().BeLessThanOrEqualTo(sized.GenerationWorkers, "the workers past the sized ones hold no device");
    }

    [Fact]
    public void With_prices_the_pools_are_the_cheapest_at_them_and_cheap_generation_devices_cost_less_for_the_same_target()
    {
        var prices = new Dictionary<string, double> { ["H100"] = 1.0, ["H20"] = 0.45 };
        var probe = new EmulatedJob(Job("pools-priced", new PoolsSpec(), "H20", prices));
        var seconds = probe.PipelinedStepSeconds(3, 2);
        var spec = Job("pools-priced", Target(24 / seconds), "H20", prices);
        var emulated = new EmulatedJob(spec);

        var sized = emulated.SizedPools();

        (sized.GenerationWorkers * 0.45 + sized.TrainingReplicas * 1.0).Should().BeApproximately(Cheapest(emulated, seconds * (1 + 1e-12), 0.45, 1.0), 1e-9);
        var ran = emulated.WithPools(new PoolSizes(sized.GenerationWorkers, sized.TrainingReplicas));
        ran.CostPerHour.Should().BeApproximately(sized.GenerationWorkers * 0.45 + (sized.TrainingReplicas + 2) * 1.0, 1e-9, "the 2 scoring devices are H100s too");
        ran.DevicesByClass.Should().BeEquivalentTo(new Dictionary<string, int> { ["H20"] = sized.GenerationWorkers, ["H100"] = sized.TrainingReplicas + 2 });
    }

    [Fact]
    public void The_shipped_target_workloads_meet_one_target_and_generating_on_h20_costs_less()
    {
        EmulatedJob Load(string name) => new(JobSpec.FromJson(File.ReadAllText(Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", name + ".json")), name));
        var (h800, h20) = (Load("grpo-7b-h800-target-reasoning32k"), Load("grpo-7b-h20-h800-target-reasoning32k"));

        var (homogeneous, heterogeneous) = (h800.SizedPools(), h20.SizedPools());

        homogeneous.Seconds.Should().BeLessThanOrEqualTo(1024 / 5.5);
        heterogeneous.Seconds.Should().BeLessThanOrEqualTo(1024 / 5.5);
        var (cost, heterogeneousCost) = (h800.WithPools(new(homogeneous.GenerationWorkers, homogeneous.TrainingReplicas)).CostPerHour!.Value,
            h20.WithPools(new(heterogeneous.GenerationWorkers, heterogeneous.TrainingReplicas)).CostPerHour!.Value);
        heterogeneousCost.Should().BeLessThan(cost, "an H20 decodes faster than an H800 (more memory bandwidth) at 0.45 of its price");
    }

    [Fact]
    public async Task A_target_the_most_devices_miss_is_refused_at_submit_naming_the_pool_that_misses_it()
    {
        var probe = new EmulatedJob(Job("pools-target-far", new PoolsSpec()));
        var most = probe.PipelinedStepSeconds(6, 4);
        var (far, generationBound) = (Job("pools-target-far", Target(1000)), Job("pools-target-far", Target(24 / most * 1.01)));

        var submit = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>(far.Name).Submit(far);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage("rl.pools.samplesPerSecond: 1000 samples a second is a step every 0.0 s for 24 samples, and 4 training replicas alone take * s (raise rl.trainingReplicas)");
        new EmulatedJob(generationBound).Invoking(e => e.SizedPools()).Should().Throw<ArgumentException>()
            .WithMessage($"rl.pools.samplesPerSecond: * samples a second is a step every * s for 24 samples, and 6 generation workers beside 4 training replicas take {most:F1} s (raise rl.generationWorkers*");
        new EmulatedJob(Job("pools-target-far", Target(24 / most))).SizedPools().Seconds.Should().BeLessThanOrEqualTo(most, "the most devices meet their own pace");
    }

    [Fact]
    public void A_target_without_a_throughput_a_throughput_without_a_target_elastic_targets_and_real_devices_are_refused()
    {
        var rl = Job("pools-target-bad", Target(1)).Rl!;

        (rl with { Pools = new PoolsSpec { Split = PoolSplit.Target } }).Problem().Should().StartWith("rl.pools.samplesPerSecond: split 'target' sizes the pools for a throughput");
        (rl with { Pools = Target(-2) }).Problem().Should().Be("rl.pools.samplesPerSecond: -2 is not a positive number of samples a second");
        (rl with { Pools = Target(double.NaN) }).Problem().Should().StartWith("rl.pools.samplesPerSecond: NaN is not a positive");
        (rl with { Pools = new PoolsSpec { Split = PoolSplit.Auto, SamplesPerSecond = 3 } }).Problem().Should().StartWith("rl.pools.samplesPerSecond: only split 'target' sizes the pools for a throughput; split 'auto'");
        (rl with { Pools = Target(1) with { Elastic = true } }).Problem().Should().StartWith("rl.pools.elastic: elastic pools move devices within a fixed budget");
        (rl with { Devices = DeviceKind.Tensor, Emulation = null }).Problem().Should().StartWith("rl.pools.split: 'target' sizes the pools on the cost model");
        rl.Problem().Should().BeNull();
    }

    [Theory]
    [InlineData("auto", false)]
    [InlineData("fixed", true)]
    public void Pools_of_two_classes_that_would_move_devices_between_them_are_refused(string split, bool elastic)
    {
        var spec = Job("pools-two-classes", new PoolsSpec { Split = SpecNames.Parse<PoolSplit>(split), Elastic = elastic }, "H20", new() { ["H100"] = 1, ["H20"] = 0.45 });

        var construct = () => new EmulatedJob(spec);

        construct.Should().Throw<ArgumentException>().WithMessage("rl.pools.split: the pools are of two classes (H20 generating, H100 training)*use split 'target' or 'fixed'");
        _ = new EmulatedJob(spec with { Rl = spec.Rl! with { Pools = new PoolsSpec() } });
    }
}
