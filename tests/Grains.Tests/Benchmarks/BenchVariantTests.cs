using Client.Benchmarks;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Kernels.Emulation;

namespace Grains.Tests.Benchmarks;

public sealed class BenchVariantTests
{
    [Theory]
    [InlineData("streaming", 3, 3)]
    [InlineData("async-1", 3, 4)]
    [InlineData("async-2", 3, 3)]
    [InlineData("async-4", 3, 5)]
    [InlineData("async-8-partial", 3, 9)]
    [InlineData("async-4", 6, 10)]
    public void Async_k_measures_whole_waves_of_k_plus_one_steps(string name, int asked, int measured)
    {
        var variant = BenchVariant.Parse(name);

        variant.Measured(asked).Should().Be(measured);
    }

    [Fact]
    public void An_async_variant_runs_its_warm_up_whole_waves_and_cool_down_with_pull_dispatch()
    {
        var workload = new JobSpec { Name = "w", Kind = JobKind.Rl, Iterations = 4, Rl = new RlSpec() };

        var job = BenchVariant.Parse("async-4").Apply(workload);

        job.Iterations.Should().Be(10 + 5 + 4, "1 + 4 warm-up steps and a whole wave of 5 after them, 3 measured rounded up to 5, 4 generated ahead that only train");
        job.Rl!.Async!.MaxStaleness.Should().Be(4);
        job.Rl.Dispatch.Should().Be(DispatchPolicy.Pull);
        job.Rl.Async.RunAhead.Should().Be(RunAhead.Most);
        var needed = BenchVariant.Parse("async-4-needed").Apply(workload);
        needed.Rl!.Async!.RunAhead.Should().Be(RunAhead.Needed);
        needed.Iterations.Should().Be(13 + 5 + 4, "8 more warm-up steps while the job goes from one step ahead to four");
        BenchVariant.Parse("async-4-long-needed").Apply(workload).Rl!.MiniBatchOrder.Should().Be(MiniBatchOrder.LongTogether);
        BenchVariant.Parse("streaming").Apply(workload).Rl!.Dispatch.Should().Be(DispatchPolicy.RoundRobin);
    }

    [Theory]
    [InlineData("colocated-1f1b", PipelineScheduleKind.OneForwardOneBackward, 4)]
    [InlineData("colocated-fused", PipelineScheduleKind.Fused, 4)]
    [InlineData("colocated-rlhfuse-tailbatch-fused", PipelineScheduleKind.Fused, 4)]
    [InlineData("colocated-barrier", null, null)]
    public void A_pipelined_variant_trains_the_65b_ppo_workload_in_8_actor_stages_and_4_critic_stages_on_its_32_devices(string name, PipelineScheduleKind? schedule, int? copies)
    {
        var workload = JobSpec.FromJson(File.ReadAllText(Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", "ppo-65b-256xh800-chat.json")), "ppo-65b");

        var job = BenchVariant.Parse(name).Apply(workload);

        job.Rl!.Problem().Should().BeNull();
        job.Rl.GenerationWorkers.Should().Be(32, "256 H800 in tensor-parallel groups of 8");
        job.Rl.Pipeline?.Schedule.Should().Be(schedule);
        if (schedule is null) return;
        job.Rl.Pipeline.Should().BeEquivalentTo(new PipelineSpec { Stages = 8, CriticStages = 4, MicroBatches = 16, Schedule = schedule.Value });
        job.Rl.Pipeline!.Replicas(job.Rl).Should().Be(copies);
        _ = new EmulatedJob(job);
    }

    [Theory]
    [InlineData("async-1-stream-skew-tp4", 4, 68)]
    [InlineData("async-2-stream-skew-tp8", 8, 52)]
    public void A_long_tail_variant_puts_four_instances_of_more_devices_in_place_of_regular_workers_keeping_the_device_count(string name, int tensorParallel, int workers)
    {
        var workload = JobSpec.FromJson(File.ReadAllText(Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", "grpo-7b-128xh800-reasoning32k.json")), "h800");

        var job = BenchVariant.Parse(name).Apply(workload);

        job.Rl!.GenerationWorkers.Should().Be(workers, "80 regular workers, less four instances' worth of devices, plus the four");
        job.Rl.Emulation!.LongTail.Should().Be(new LongTailSpec { Workers = BenchVariant.LongTailWorkers, TensorParallel = tensorParallel });
        job.Rl.Dispatch.Should().Be(DispatchPolicy.SkewAware);
        job.Rl.Problem().Should().BeNull();
        new EmulatedJob(job).Devices.Should().Be(new EmulatedJob(workload).Devices).And.Be(128);
        job.Rl.Migration.Should().BeNull("the head takes the forecast longest; only the tail role gathers");
        var tails = BenchVariant.Parse("async-1-stream-skew-tail4").Apply(workload).Rl!;
        tails.Emulation!.LongTail!.Role.Should().Be(LongTailRole.Tail);
        tails.Migration.Should().Be(new MigrationSpec { Remaining = BenchVariant.TailRemaining, Workers = BenchVariant.LongTailWorkers });
        tails.Problem().Should().BeNull();
    }

    [Theory]
    [InlineData("async-4-partial-pull", DispatchPolicy.Pull, null, 80)]
    [InlineData("async-4-partial-skew", DispatchPolicy.SkewAware, null, 80)]
    [InlineData("async-4-partial-skew-tp4", DispatchPolicy.SkewAware, 4, 68)]
    public void A_partial_rollouts_dispatch_variant_runs_the_ablations_dataset_with_partial_rollouts(string name, DispatchPolicy dispatch, int? tensorParallel, int workers)
    {
        var workload = JobSpec.FromJson(File.ReadAllText(Path.Combine(Testing.RepositoryPaths.Root, "infra", "workloads", "grpo-7b-128xh800-reasoning32k.json")), "h800");

        var job = BenchVariant.Parse(name).Apply(workload);

        job.Rl!.Problem().Should().BeNull();
        job.Rl.Async.Should().Be(new AsyncSpec { MaxStaleness = 4, PartialRollouts = true });
        job.Rl.Dispatch.Should().Be(dispatch);
        job.Rl.Emulation!.DatasetPrompts.Should().Be(2 * 64, "the dispatch ablation's dataset: two steps' prompts, so the ranker knows them from the third step");
        job.Rl.Emulation.LongTail?.TensorParallel.Should().Be(tensorParallel);
        job.Rl.GenerationWorkers.Should().Be(workers);
        job.Rl.Migration.Should().BeNull("partial rollouts refuse a migration section");
        job.Iterations.Should().Be(1 + 4 + 5 + 2 + 5 + 4, "warm-up (1 + k, a wave, the dataset's first epoch), a wave of 5 measured, 4 that only train");
        new EmulatedJob(job).Devices.Should().Be(128);
    }

    [Fact]
    public void A_migrating_variant_runs_with_the_plan_the_simulation_chooses_for_its_workload()
    {
        var workload = new JobSpec
        {
            Name = "w", Kind = JobKind.Rl, Iterations = 2, Seed = 3,
            Rl = new RlSpec
            {
                Devices = DeviceKind.Emulated, PromptsPerIteration = 16, SamplesPerPrompt = 4, GenerationWorkers = 8, TrainingReplicas = 2, MaxBatch = 16,
                Emulation = new EmulationSpec { DeviceClass = "H800", Actor = "qwen2.5-7b", InferenceDevices = 2, Lengths = "reasoning", PromptLength = 256 },
            },
        };
        var variant = BenchVariant.Parse("async-1-migrate");

        var (job, plan) = variant.WithMigration(variant.Apply(workload));

        // Moved samples carry their KV cache where the workload's link sends it sooner than a prefill.
        var steps = new EmulatedJob(job).Workload(1);
        var expected = TailPlanner.Choose(steps, new CacheTransfer(steps.WeightLink));
        plan.Should().Be(expected);
        if (expected.Workers > 0) job.Rl!.Migration.Should().Be(new MigrationSpec { Remaining = expected.Remaining, Workers = expected.Workers, Move = MigrationMove.Auto });
        else job.Rl!.Migration.Should().BeNull();
        job.Rl.Async!.MaxStaleness.Should().Be(1);
        var prefill = BenchVariant.Parse("async-1-migrate-prefill");
        var (prefilled, prefillPlan) = prefill.WithMigration(prefill.Apply(workload));
        prefillPlan.Should().Be(TailPlanner.Choose(steps), "the ablation plans for samples prefilled again");
        if (prefillPlan!.Workers > 0) prefilled.Rl!.Migration!.Move.Should().Be(MigrationMove.Prefill);
        BenchVariant.Parse("async-1").WithMigration(job).Plan.Should().BeNull("a variant without migration plans none");
    }

    [Fact]
    public void A_tail_batching_variant_measures_whole_cycles_of_short_rounds_and_the_long_one_they_defer_to()
    {
        // 32 prompts: short rounds launch 40 (32 x 1.25) and defer 8, so one long round follows every 4 short ones.
        var workload = new JobSpec { Name = "w", Kind = JobKind.Rl, Iterations = 4, Rl = new RlSpec { PromptsPerIteration = 32 } };
        var variant = BenchVariant.Parse("streaming-tailbatch");

        BenchVariant.TailBatchCycle(workload.Rl!).Should().Be(5);
        variant.Measured(3, workload.Rl).Should().Be(5);
        variant.Measured(6, workload.Rl).Should().Be(10);
        var job = variant.Apply(workload);
        job.Iterations.Should().Be(1 + 5, "one warm-up step, then 3 asked rounded up to a whole cycle of 5");
        job.Rl!.TailBatching.Should().Be(new TailBatchingSpec());
        BenchVariant.TailBatchCycle(new RlSpec { PromptsPerIteration = 3 }).Should().Be(4, "3 x 1.25 rounds up to 4 prompts: 1 deferred a round, a long round after 3");
    }
}
