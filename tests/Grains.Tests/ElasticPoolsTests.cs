using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Grains.Rl;
using Kernels.Emulation;

namespace Grains.Tests;

/// <summary>rl.pools: an asynchronous job's devices divided between generation and training at its start, and moved between them as it runs.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ElasticPoolsTests(ClusterFixture fixture)
{
    /// <summary>A grpo job of 6 x 4 samples a step, one step ahead, on H100s: <paramref name="workers"/> and <paramref name="replicas"/> as the file gives them.</summary>
    private static JobSpec Job(string name, int workers, int replicas, string lengths, int promptLength, PoolsSpec pools) => new()
    {
        Name = name,
        Kind = JobKind.Rl,
        Iterations = 6,
        Seed = 5,
        Rl = new RlSpec
        {
            Algorithm = Algorithm.Grpo, Devices = DeviceKind.Emulated, PromptsPerIteration = 6, SamplesPerPrompt = 4, MiniBatches = 2,
            GenerationWorkers = workers, TrainingReplicas = replicas, MaxBatch = 8, Dispatch = DispatchPolicy.Pull,
            Async = new AsyncSpec { MaxStaleness = 1 }, Pools = pools,
            Emulation = new EmulationSpec
            {
                DeviceClass = "H100", Actor = "qwen2.5-7b", InferenceDevices = 2, Lengths = lengths, PromptLength = promptLength, TimeScale = 20,
            },
        },
    };

    private static async Task<SampleRecord[][]> Records(IGrainFactory grains, JobSpec spec, IterationMetrics[] metrics) =>
        await Task.WhenAll(metrics.Select(m => Task.WhenAll(Enumerable.Range(0, 24).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(spec.Name, m.Iteration, k)).Record()))));

    [Fact]
    public async Task Elastic_pools_move_training_devices_to_generation_while_generation_holds_the_job_back()
    {
        var grains = fixture.Cluster.GrainFactory;
        // One worker for 24 reasoning responses a step, four replicas training them: generation sets the pace.
        var spec = Job("elastic-to-generation", workers: 1, replicas: 4, "reasoning", 256, new PoolsSpec { Elastic = true });

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Pools.Should().Be(new PoolSizes(1, 4), "the split is fixed at the start: as the file gives it");
        metrics.Should().OnlyContain(m => m.Pools!.GenerationWorkers + m.Pools.TrainingReplicas == 5, "a move keeps the budget");
        metrics[^1].Pools!.GenerationWorkers.Should().BeGreaterThan(1, "training devices moved to generation");
        metrics.Select(m => m.Pools!.GenerationWorkers).Should().BeInAscendingOrder("every move relieved generation");
        foreach (var step in await Records(grains, spec, metrics)) step.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
        metrics.Should().OnlyContain(m => m.Ledger!.Lost == 0);
        var workersUsed = metrics.Skip(1).Max(m => m.DeviceBusy.Keys.Count(k => k.Contains("/g")));
        workersUsed.Should().BeGreaterThan(1, "the new workers generated");
    }

    [Fact]
    public async Task A_ppo_job_moves_a_replica_of_actor_and_critic_to_generation_as_two_workers()
    {
        var grains = fixture.Cluster.GrainFactory;
        // PPO: a replica trains the actor and the critic, each on its own device, so it gives two workers.
        var grpo = Job("elastic-ppo", workers: 1, replicas: 3, "reasoning", 256, new PoolsSpec { Elastic = true });
        var spec = grpo with { Rl = grpo.Rl! with { Algorithm = Algorithm.Ppo, Emulation = grpo.Rl.Emulation! with { Critic = "qwen2.5-7b" } } };
        new EmulatedJob(spec).WorkersPerReplica.Should().Be(2);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Pools.Should().Be(new PoolSizes(1, 3));
        metrics.Should().OnlyContain(m => m.Pools!.GenerationWorkers + 2 * m.Pools.TrainingReplicas == 7, "a replica's two devices become two workers");
        metrics[^1].Pools!.TrainingReplicas.Should().BeLessThan(3, "training devices moved to generation");
        foreach (var step in await Records(grains, spec, metrics)) step.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
        metrics.Should().OnlyContain(m => m.Ledger!.Lost == 0);
        metrics.Skip(1).Should().Contain(m => m.DeviceBusy.Keys.Any(k => k.Contains("critic")), "the replicas left still train the critic");
    }

    [Fact]
    public async Task Elastic_pools_move_a_worker_to_training_and_its_samples_in_flight_go_to_the_others_with_none_lost()
    {
        var grains = fixture.Cluster.GrainFactory;
        // Four workers for short answers to long prompts, one replica training them all: training sets the pace.
        var spec = Job("elastic-to-training", workers: 4, replicas: 1, "chat", 8192, new PoolsSpec { Elastic = true });

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Pools.Should().Be(new PoolSizes(4, 1));
        metrics.Should().OnlyContain(m => m.Pools!.GenerationWorkers + m.Pools.TrainingReplicas == 5);
        metrics[^1].Pools!.TrainingReplicas.Should().BeGreaterThan(1, "generation devices moved to training");
        var steps = await Records(grains, spec, metrics);
        var emulated = new EmulatedJob(spec);
        for (var i = 0; i < steps.Length; i++)
        {
            steps[i].Should().OnlyContain(r => r.Stage == SampleStage.Trained, "no sample is lost when its worker leaves");
            steps[i].Select(r => r.Generated!.Tokens).Should().Equal(emulated.Workload(i + 1).Samples.Select(s => s.Response),
                "a sample moved off a leaving worker reaches the length its seed draws");
        }
        metrics.Should().OnlyContain(m => m.Ledger!.Lost == 0);
    }

    [Fact]
    public async Task Split_auto_begins_with_the_division_whose_simulated_step_is_fastest()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Job("split-auto", workers: 1, replicas: 4, "reasoning", 256, new PoolsSpec { Split = PoolSplit.Auto }) with { Iterations = 2 };
        var emulated = new EmulatedJob(spec);
        var samples = emulated.Workload(1).Samples;
        double Step(int replicas) => emulated.PipelinedStepSeconds(samples, 1, 5 - replicas, replicas);

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var chosen = metrics[0].Pools!;
        chosen.GenerationWorkers.Should().Be(5 - chosen.TrainingReplicas);
        Step(chosen.TrainingReplicas).Should().Be(Enumerable.Range(1, 4).Min(Step), "no other division of the five devices simulates a faster step of the scheduler over the first step's lengths");
        metrics[1].Pools.Should().Be(chosen, "without elastic the division stays");
    }

    /// <summary>
    /// Real devices (the tiny model on CPU), split auto: the job begins with the file's division (one worker
    /// generating one sample at a time, three replicas) and moves a unit a step towards the division its
    /// measured busy seconds say is fastest, T_generation(G) = busy x G_0 / G, T_training(R) = busy x R_0 / R
    /// (the metrics give busy as a share of the step: the same step for both pools, so the same division).
    /// </summary>
    [Fact]
    public async Task On_real_devices_split_auto_moves_towards_the_division_the_first_steps_measure_fastest()
    {
        var tiny = RlJobTests.Tiny("split-real", iterations: 4);
        var spec = tiny with
        {
            Rl = tiny.Rl! with
            {
                GenerationWorkers = 1, TrainingReplicas = 3, MaxBatch = 1, Epochs = 1, EvalEvery = 4,
                Async = new AsyncSpec { MaxStaleness = 1 }, Pools = new PoolsSpec { Split = PoolSplit.Auto },
            },
        };

        var (status, metrics) = await RlJobTests.Run(fixture.Cluster.Client, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Skip(1).Should().OnlyContain(m => m.Ledger!.Lost == 0 && m.Ledger.Trained == 16);
        metrics[1].Pools.Should().Be(new PoolSizes(1, 3), "the job begins with the file's division");
        metrics.Skip(1).Should().OnlyContain(m => m.Pools!.GenerationWorkers + m.Pools.TrainingReplicas == 4, "a move keeps the budget");
        // The first plan, from step 1's measurements, is carried out once step 2 is trained.
        double Busy(string role) => metrics[1].DeviceBusy.Where(d => d.Key.Contains(role)).Average(d => d.Value);
        var (generation, training) = (Busy("/g"), Busy("/actor/"));
        var fastest = Enumerable.Range(1, 3).MinBy(r => Math.Max(generation * 1 / (4 - r), training * 3 / r));
        metrics[2].Pools!.TrainingReplicas.Should().Be(fastest < 3 ? 2 : 3,
            $"in step 1 a worker was busy {generation:P0} of the step and a replica {training:P0}: {fastest} replicas are fastest");
    }

    [Fact]
    public void A_steps_training_on_one_replica_is_each_optimizer_steps_and_the_proximal_pass_as_the_cost_model_times_them()
    {
        var spec = Job("pools-times", workers: 2, replicas: 2, "chat", 512, new PoolsSpec());
        var emulated = new EmulatedJob(spec);
        var samples = emulated.Workload(3).Samples;
        var cost = new CostModel(DeviceClass.Parse("H100"), ModelShape.Parse("qwen2.5-7b"));
        int[] Sequences(IEnumerable<int> rows) => [.. rows.Select(k => samples[k].Prompt + samples[k].Response)];
        var steps = MiniBatchPlan.Steps(24, 1, 2, spec.Seed, 3);

        var seconds = emulated.TrainingSeconds(samples, 1, 3);

        // Decoupled PPO (the default) also runs a forward pass over the rows after the first optimizer step.
        seconds.Should().BeApproximately(steps.Sum(step => cost.TrainingSeconds(Sequences(step))) + cost.ForwardSeconds(Sequences(steps[1])), 1e-9);
        emulated.TrainingSeconds(samples, 2, 3).Should().BeLessThan(seconds).And.BeGreaterThanOrEqualTo(seconds / 2);
        Enumerable.Range(1, 6).Select(g => emulated.GenerationSeconds(samples, g)).Should().BeInDescendingOrder("more workers never generate a step slower");
        emulated.WorkersPerReplica.Should().Be(1);
        PoolTuning.Most(spec).Should().Be((3, 3), "a budget of 4 leaves at least one worker, and 3 replicas at most");
    }

    [Theory]
    [InlineData("emulated", "colocated", 1, 1, "rl.pools: colocated devices hold every role*")]
    [InlineData("emulated", "disaggregated", 0, 1, "rl.pools: the split balances generation against training*maxStaleness to 1 or more")]
    [InlineData("emulated", "disaggregated", 1, 3, "rl.pools: a training replica's 3 devices do not make whole generation workers of 2*")]
    public void A_pools_section_a_job_cannot_divide_is_refused_naming_why(string devices, string placement, int staleness, int trainingTensorParallel, string message)
    {
        var spec = Job("pools-bad", workers: 2, replicas: 2, "chat", 128, new PoolsSpec { Split = PoolSplit.Auto });
        var rl = spec.Rl! with
        {
            Devices = SpecNames.Parse<DeviceKind>(devices), Placement = SpecNames.Parse<RolePlacement>(placement),
            Async = new AsyncSpec { MaxStaleness = staleness },
            Emulation = devices == "tensor" ? null : spec.Rl.Emulation! with { GenerationTensorParallel = 2, TrainingTensorParallel = trainingTensorParallel },
        };
        if (placement == "colocated") rl = rl with { Async = null };

        rl.Pools!.Problem(rl).Should().Match(message);
    }

    [Fact]
    public void Most_generation_workers_below_the_starting_ones_colocated_or_beside_pools_are_refused_naming_why()
    {
        var rl = RlJobTests.Tiny("most-workers").Rl! with { GenerationWorkers = 2, TrainingReplicas = 2 };

        (rl with { MaxGenerationWorkers = 1 }).Problem().Should().Be("rl.maxGenerationWorkers: 1 must be between 2 and 4096");
        (rl with { MaxGenerationWorkers = 3, Placement = RolePlacement.Colocated }).Problem().Should().StartWith("rl.maxGenerationWorkers: a colocated job's workers are on its own devices");
        (rl with { MaxGenerationWorkers = 3, Async = new AsyncSpec { MaxStaleness = 1 }, Pools = new PoolsSpec() }).Problem().Should().StartWith("rl.maxGenerationWorkers: the pools divide a fixed budget");
        (rl with { MaxGenerationWorkers = 3 }).Problem().Should().BeNull();
        PoolTuning.Most(RlJobTests.Tiny("most-workers") with { Rl = rl with { MaxGenerationWorkers = 3 } }).Should().Be((3, 2));
    }

    [Fact]
    public void Elastic_pools_beside_long_tail_migration_are_refused()
    {
        var rl = Job("pools-migration", workers: 3, replicas: 2, "chat", 128, new PoolsSpec { Elastic = true }).Rl! with { Migration = new MigrationSpec() };

        rl.Problem().Should().StartWith("rl.pools.elastic: a moved worker would leave the migration's tail workers changing under it");
    }
}
