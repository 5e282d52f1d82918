using Grains.Cluster;
using Grains.Data;
using Grains.Models;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Rl;
using Grains.Storage;
using Kernels.Model;

namespace Grains.Tests;

/// <summary>Whole RL jobs on the in-process cluster, small enough to run in seconds.</summary>
[Collection(ClusterCollection.Name)]
public sealed class RlJobTests(ClusterFixture fixture)
{
    internal static JobSpec Tiny(string name, int iterations = 2, RlSpec? rl = null) => new()
    {
        Name = name,
        Kind = JobKind.Rl,
        Iterations = iterations,
        Seed = 9,
        Rl = rl ?? new RlSpec
        {
            TrainExamples = 64, HeldOutExamples = 8, SftSteps = 20, SftBatchSize = 16, PromptsPerIteration = 4, SamplesPerPrompt = 4,
            MiniBatches = 2, Epochs = 2, ActorLearningRate = 1e-3, EvalEvery = 1, CheckpointEvery = 0, MaxBatch = 6, Temperature = 1.0,
        },
    };

    internal static async Task<(JobStatus Status, IterationMetrics[] Metrics)> Run(IGrainFactory grains, JobSpec spec, bool resume = false)
    {
        var job = grains.GetGrain<IJobGrain>(spec.Name);
        // A gateway of a silo an earlier test stopped may still be in the client's list: the call is tried again.
        await SiloLoss.Retry(() => resume ? job.Resume(spec) : job.Submit(spec));
        return await Watch(grains, spec.Name);
    }

    /// <summary>
    /// Asks the job's status until it ends (at most 10 minutes: a guard against a hang, not a measure; a tiny
    /// job on a 2-core machine also running stress-ng and another cluster outlasted 3); its last status and every
    /// iteration's metrics. A call that fails with a silo's loss (the client's gateway, the job grain's silo) is asked again.
    /// </summary>
    internal static async Task<(JobStatus Status, IterationMetrics[] Metrics)> Watch(IGrainFactory grains, string name)
    {
        var job = grains.GetGrain<IJobGrain>(name);
        var status = await SiloLoss.Retry(job.Status);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(10);
        while (!status.IsFinished && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            status = await SiloLoss.Retry(job.Status);
        }
        return (status, await SiloLoss.Retry(() => job.Metrics(0)));
    }

    private static async Task<SampleRecord[]> Records(IGrainFactory grains, string job, int iteration, int count) =>
        await Task.WhenAll(Enumerable.Range(0, count).Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(job, iteration, k)).Record()));

    [Fact]
    public async Task Barrier_and_streaming_give_the_same_samples_rewards_and_advantages()
    {
        var grains = fixture.Cluster.GrainFactory;
        var barrier = Tiny("policy-barrier") with { Rl = Tiny("x").Rl! with { StagePolicy = StagePolicy.Barrier } };
        var streaming = Tiny("policy-streaming") with { Rl = Tiny("x").Rl! with { StagePolicy = StagePolicy.Streaming } };

        var (barrierStatus, barrierMetrics) = await Run(grains, barrier);
        var (streamingStatus, streamingMetrics) = await Run(grains, streaming);

        barrierStatus.State.Should().Be(JobState.Completed, barrierStatus.Message);
        streamingStatus.State.Should().Be(JobState.Completed, streamingStatus.Message);
        barrierMetrics.Should().HaveCount(3, "the start and two iterations");
        for (var i = 1; i <= 2; i++)
        {
            var a = await Records(grains, barrier.Name, i, 16);
            var b = await Records(grains, streaming.Name, i, 16);
            for (var k = 0; k < 16; k++)
            {
                a[k].Stage.Should().Be(SampleStage.Trained);
                b[k].Generated!.Response.Should().Equal(a[k].Generated!.Response, $"iteration {i} sample {k}");
                b[k].Scores!.Reward.Should().Be(a[k].Scores!.Reward);
                b[k].Advantages.Should().Equal(a[k].Advantages!, (x, y) => Math.Abs(x - y) < 1e-5f);
                b[k].Scores!.RefLogProbs.Should().Equal(a[k].Scores!.RefLogProbs!, (x, y) => Math.Abs(x - y) < 1e-5f);
                a[k].Generated!.WeightVersion.Should().Be(i - 1, "iteration i samples with the weights of iteration i - 1");
                a[k].Times.Scored.Should().BeOnOrAfter(a[k].Times.Generated!.Value);
            }
            // Barrier: nothing is scored before the last sample is generated.
            a.Min(r => r.Times.Scored!.Value).Should().BeOnOrAfter(a.Max(r => r.Times.Generated!.Value));
            streamingMetrics[i].PolicyLoss.Should().BeApproximately(barrierMetrics[i].PolicyLoss, 1e-5);
            streamingMetrics[i].HeldOutAccuracy.Should().Be(barrierMetrics[i].HeldOutAccuracy);
        }
    }

    [Fact]
    public async Task Pulled_and_round_robin_dispatch_give_the_same_samples_on_different_workers()
    {
        var grains = fixture.Cluster.GrainFactory;
        var roundRobin = Tiny("dispatch-round-robin") with { Rl = Tiny("x").Rl! with { GenerationWorkers = 2 } };
        var pulled = Tiny("dispatch-pull") with { Rl = roundRobin.Rl! with { Dispatch = DispatchPolicy.Pull } };

        var (roundRobinStatus, roundRobinMetrics) = await Run(grains, roundRobin);
        var (pulledStatus, pulledMetrics) = await Run(grains, pulled);

        roundRobinStatus.State.Should().Be(JobState.Completed, roundRobinStatus.Message);
        pulledStatus.State.Should().Be(JobState.Completed, pulledStatus.Message);
        for (var i = 1; i <= 2; i++)
        {
            var a = await Records(grains, roundRobin.Name, i, 16);
            var b = await Records(grains, pulled.Name, i, 16);
            for (var k = 0; k < 16; k++)
            {
                b[k].Generated!.Response.Should().Equal(a[k].Generated!.Response, "a response depends on its seed and weights, not on its worker");
                b[k].Scores!.Reward.Should().Be(a[k].Scores!.Reward);
                a[k].Worker.Should().Be($"{roundRobin.Name}/g{k % 2}");
            }
            // Each worker starts with a full batch (maxBatch 6), dealt in turn; the rest go to whoever frees a slot.
            b.Take(12).Select(r => r.Worker).Should().Equal(Enumerable.Range(0, 12).Select(k => $"{pulled.Name}/g{k % 2}"));
            pulledMetrics[i].PolicyLoss.Should().BeApproximately(roundRobinMetrics[i].PolicyLoss, 1e-5);
        }
    }

    [Fact]
    public async Task Long_together_trains_each_sample_once_in_mini_batches_cut_around_the_long_responses()
    {
        // Run-length responses without SFT run to very different lengths; two replicas, two mini-batches.
        var grains = fixture.Cluster.GrainFactory;
        var rl = Tiny("x").Rl! with { Task = RlTask.Runlength, SftSteps = 0, TrainingReplicas = 2, Epochs = 1 };
        var shuffled = Tiny("order-shuffled") with { Rl = rl };
        var gathered = Tiny("order-long-together") with { Rl = rl with { MiniBatchOrder = MiniBatchOrder.LongTogether } };

        var (shuffledStatus, _) = await Run(grains, shuffled);
        var (gatheredStatus, gatheredMetrics) = await Run(grains, gathered);

        shuffledStatus.State.Should().Be(JobState.Completed, shuffledStatus.Message);
        gatheredStatus.State.Should().Be(JobState.Completed, gatheredStatus.Message);
        gatheredMetrics.Where(m => m.Iteration > 0).Should().OnlyContain(m => m.Ledger!.Trained == 16);
        var a = await Records(grains, shuffled.Name, 1, 16);
        var b = await Records(grains, gathered.Name, 1, 16);
        b.Select(r => r.Generated!.Response).Should().BeEquivalentTo(a.Select(r => r.Generated!.Response), o => o.WithStrictOrdering(), "the first step samples with the same weights and seeds");
        b.Should().OnlyContain(r => r.Stage == SampleStage.Trained);
        long[] tokens = [.. b.Select(r => (long)r.Start!.PromptTokens + r.Generated!.Tokens)];
        MiniBatchPlan.For(gathered.Rl!, gathered.Seed, 1, tokens).Should().NotBeEquivalentTo(MiniBatchPlan.For(shuffled.Rl!, shuffled.Seed, 1, tokens),
            o => o.WithStrictOrdering(), "some response is long enough to be gathered, so the two jobs cut their mini-batches differently");
    }

    [Fact]
    public async Task Long_tail_migration_moves_work_not_results()
    {
        // Run-length responses (SFT-free, so up to their limit) on two workers; the tail is gathered on one
        // once a tenth of a step is generated: the samples moved go on from their tokens so far.
        var grains = fixture.Cluster.GrainFactory;
        var rl = Tiny("x").Rl! with { Task = RlTask.Runlength, SftSteps = 0, GenerationWorkers = 2, MaxBatch = 4 };
        var stay = Tiny("migration-none") with { Rl = rl };
        var moved = Tiny("migration-gather") with { Rl = rl with { Migration = new MigrationSpec { Remaining = 0.9, Workers = 1 } } };

        var (stayStatus, stayMetrics) = await Run(grains, stay);
        var (movedStatus, movedMetrics) = await Run(grains, moved);

        stayStatus.State.Should().Be(JobState.Completed, stayStatus.Message);
        movedStatus.State.Should().Be(JobState.Completed, movedStatus.Message);
        for (var i = 1; i <= 2; i++)
        {
            var a = await Records(grains, stay.Name, i, 16);
            var b = await Records(grains, moved.Name, i, 16);
            for (var k = 0; k < 16; k++)
            {
                b[k].Stage.Should().Be(SampleStage.Trained);
                b[k].Generated!.Response.Should().Equal(a[k].Generated!.Response, $"iteration {i} sample {k}: a response depends on its seed and weights, not on where it finished");
                b[k].Scores!.Reward.Should().Be(a[k].Scores!.Reward);
                b[k].Generated!.LogProbs.Should().Equal(a[k].Generated!.LogProbs, (x, y) => Math.Abs(x - y) < 1e-4f);
            }
            b.Where(r => r.Dispatches > 1).Select(r => r.Worker).Distinct().Should().HaveCountLessThanOrEqualTo(1, "a step's tail is gathered on one worker");
            b.Count(r => r.Dispatches > 1).Should().Be(movedMetrics[i].Ledger!.Migrated);
            movedMetrics[i].PolicyLoss.Should().BeApproximately(stayMetrics[i].PolicyLoss, 1e-4);
        }
        movedMetrics.Skip(1).Sum(m => m.Ledger!.CachesCarried).Should().BePositive("running samples move with their KV cache (move: auto, on real devices always)");
    }

    [Fact]
    public async Task A_colocated_job_training_early_on_real_devices_generates_the_same_samples_and_trains_each_once()
    {
        // PPO on arithmetic on two colocated devices, the tail gathered on one once a tenth is generated: with rl.trainEarly
        // the first mini-batch (the groups scored first) is computed on the freed device. The step's samples are those of the
        // same job without it (same weights, same seeds); its mini-batches are cut by scoring order instead of a shuffle.
        var grains = fixture.Cluster.GrainFactory;
        var rl = Tiny("x").Rl! with
        {
            Algorithm = Algorithm.Ppo, GenerationWorkers = 2, TrainingReplicas = 2, MaxBatch = 4, Epochs = 1,
            Placement = RolePlacement.Colocated, Migration = new MigrationSpec { Remaining = 0.9, Workers = 1 },
        };
        var late = Tiny("early-none") with { Rl = rl };
        var early = Tiny("early-on-freed") with { Rl = rl with { TrainEarly = true } };

        var (lateStatus, _) = await Run(grains, late);
        var (earlyStatus, earlyMetrics) = await Run(grains, early);

        lateStatus.State.Should().Be(JobState.Completed, lateStatus.Message);
        earlyStatus.State.Should().Be(JobState.Completed, earlyStatus.Message);
        var a = await Records(grains, late.Name, 1, 16);
        var b = await Records(grains, early.Name, 1, 16);
        b.Select(r => r.Generated!.Response).Should().BeEquivalentTo(a.Select(r => r.Generated!.Response), o => o.WithStrictOrdering(), "the first step samples with the same weights and seeds");
        b.Select(r => r.Scores!.Reward).Should().Equal(a.Select(r => r.Scores!.Reward));
        foreach (var m in earlyMetrics.Where(m => m.Iteration > 0))
        {
            m.Ledger!.Trained.Should().Be(16);
            double.IsFinite(m.PolicyLoss).Should().BeTrue();
            m.GradNorm.Should().BePositive("the step's last optimizer step applied a gradient (PPO's advantages come from the critic's values)");
            m.ValueLoss.Should().BePositive();
        }
    }

    [Fact]
    public async Task A_colocated_job_trains_on_one_device_exactly_as_on_two()
    {
        var grains = fixture.Cluster.GrainFactory;
        var apart = Tiny("placement-apart");
        var together = Tiny("placement-together") with { Rl = apart.Rl! with { Placement = RolePlacement.Colocated } };

        var (apartStatus, apartMetrics) = await Run(grains, apart);
        var together0 = grains.GetGrain<IGenerationWorkerGrain>(JobKeys.For(together).Worker(0));
        var (togetherStatus, togetherMetrics) = await Run(grains, together);

        apartStatus.State.Should().Be(JobState.Completed, apartStatus.Message);
        togetherStatus.State.Should().Be(JobState.Completed, togetherStatus.Message);
        together0.GetPrimaryKeyString().Should().Be("placement-together/g0@placement-together/d0");
        for (var i = 1; i <= 2; i++)
        {
            togetherMetrics[i].RewardMean.Should().Be(apartMetrics[i].RewardMean);
            togetherMetrics[i].PolicyLoss.Should().Be(apartMetrics[i].PolicyLoss);
            togetherMetrics[i].HeldOutAccuracy.Should().Be(apartMetrics[i].HeldOutAccuracy);
            togetherMetrics[i].DeviceBusy.Keys.Should().BeEquivalentTo(["placement-together/g0@placement-together/d0", "placement-together/actor/0@placement-together/d0"]);
        }
    }

    [Fact]
    public async Task A_colocated_jobs_worker_and_trainer_hold_one_device_lease()
    {
        var grains = fixture.Cluster.GrainFactory;
        var job = Tiny("placement-lease", iterations: 1) with { Rl = Tiny("x").Rl! with { Placement = RolePlacement.Colocated } };
        var keys = JobKeys.For(job);
        var worker = grains.GetGrain<IGenerationWorkerGrain>(keys.Worker(0));
        var trainer = grains.GetGrain<ITrainerGrain>(keys.Trainer("actor", 0));

        await worker.Configure(new GenerationLimits(4, 64, RlSpec.DemoModel, 32));
        await trainer.Setup(Grains.Iteration.TrainerSetups.For(job, critic: false, emulated: null));

        var (a, b) = (await worker.Device(), await trainer.Device());
        (b.Silo, b.Device, b.Holder).Should().Be((a.Silo, a.Device, a.Holder));
        a.Holder.Should().Be("shared-device/placement-lease/d0");
        await worker.Vacate();
        await trainer.Vacate();
    }

    [Fact]
    public async Task Two_data_parallel_replicas_train_exactly_like_one()
    {
        var grains = fixture.Cluster.GrainFactory;
        var one = Tiny("replicas-one") with { Rl = Tiny("x").Rl! with { TrainingReplicas = 1 } };
        var two = Tiny("replicas-two") with { Rl = Tiny("x").Rl! with { TrainingReplicas = 2 } };

        var (oneStatus, oneMetrics) = await Run(grains, one);
        var (twoStatus, twoMetrics) = await Run(grains, two);

        oneStatus.State.Should().Be(JobState.Completed, oneStatus.Message);
        twoStatus.State.Should().Be(JobState.Completed, twoStatus.Message);
        twoMetrics.Select(m => m.RewardMean).Should().Equal(oneMetrics.Select(m => m.RewardMean));
        twoMetrics[2].PolicyLoss.Should().BeApproximately(oneMetrics[2].PolicyLoss, 1e-5);
        var store = new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20);
        using var a = new Transformer(ModelPresets.Demo);
        using var b = new Transformer(ModelPresets.Demo);
        ModelCatalog.Deserialize(a, await ModelCatalog.ReadAsync(store, "jobs/replicas-one/weights/actor-000002.safetensors"), "one");
        ModelCatalog.Deserialize(b, await ModelCatalog.ReadAsync(store, "jobs/replicas-two/weights/actor-000002.safetensors"), "two");
        var difference = a.parameters().Zip(b.parameters(), (x, y) => (x - y).abs().max().item<float>()).Max();
        difference.Should().BeLessThan(1e-5f);
        (await grains.GetGrain<Interfaces.Rl.ITrainerGrain>("replicas-two/actor/1").TakeUsage()).Holder.Should().Be("replicas-two/actor/1");
    }

    [Fact]
    public async Task Tail_batching_on_real_devices_defers_unfinished_prompts_across_a_resume_to_the_long_round_that_trains_them()
    {
        // Short rounds of 6 prompts x 5 responses keep 4 x 4 and defer 2: after two, a long round of those 4.
        var grains = fixture.Cluster.GrainFactory;
        var rl = Tiny("x").Rl! with { CheckpointEvery = 1, GenerationWorkers = 2, TailBatching = new TailBatchingSpec { ExtraPrompts = 0.5, ExtraResponses = 0.25 } };
        var (stopped, metrics) = await Run(grains, Tiny("tail-batching", 2, rl));
        var first = metrics.Where(m => m.Iteration > 0).ToArray();
        stopped.State.Should().Be(JobState.Completed, stopped.Message);
        var store = new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20);
        var checkpoint = await new Grains.Iteration.JobCheckpoints(Tiny("tail-batching", 3, rl), store).Latest();
        var trainedExamples = new List<int>();
        foreach (var m in first)
        {
            // A discarded sample's grain goes soon after its round: the trained ones' records stay with the job.
            var trained = (await Records(grains, "tail-batching", m.Iteration, 30)).Where(r => r.Stage == SampleStage.Trained).ToArray();
            trained.Should().HaveCount(16);
            trained.GroupBy(r => r.Start!.Group).Should().HaveCount(4).And.OnlyContain(g => g.Count() == 4);
            trained.Should().OnlyContain(r => r.Generated!.WeightVersion == m.Iteration - 1);
            (m.Ledger!.Created, m.Ledger.Trained, m.Ledger.Discarded, m.Ledger.Lost).Should().Be((30, 16, 14, 0));
            trainedExamples.AddRange(trained.Select(r => r.Start!.ExampleIndex).Distinct());
        }
        first.Select(m => m.Round).Should().Equal(new RoundReport(false, 2), new RoundReport(false, 4));
        (checkpoint.Iteration, checkpoint.PromptsDrawn).Should().Be((2, 12L));
        var deferredAfter = checkpoint.Deferred.Select(d => d.ExampleIndex).ToList();
        deferredAfter.Should().HaveCount(4).And.OnlyHaveUniqueItems();
        trainedExamples.Should().HaveCount(8).And.OnlyHaveUniqueItems().And.NotIntersectWith(deferredAfter, "a deferred prompt was not trained in its short round");

        var (resumed, after) = await Run(grains, Tiny("tail-batching", 3, rl), resume: true);

        resumed.State.Should().Be(JobState.Completed, resumed.Message);
        after.Should().ContainSingle().Which.Round.Should().Be(new RoundReport(true, 0));
        var longRound = await Records(grains, "tail-batching", 3, 16);
        longRound.Should().OnlyContain(r => r.Stage == SampleStage.Trained && r.Generated!.WeightVersion == 2);
        longRound.Select(r => r.Start!.ExampleIndex).Distinct().Should().Equal(deferredAfter, "the long round trains the prompts the short ones deferred, in their order");
        after[0].Ledger!.Discarded.Should().Be(0);
    }

    [Fact]
    public async Task A_resumed_job_continues_exactly_as_one_that_never_stopped()
    {
        var grains = fixture.Cluster.GrainFactory;
        // Six prompts a step, so each step's length ranking is reported (it needs five).
        var rl = Tiny("x").Rl! with { CheckpointEvery = 2, Algorithm = Algorithm.Ppo, PromptsPerIteration = 6, SamplesPerPrompt = 2, KlCoefficient = 0.05 };
        var (whole, wholeMetrics) = await Run(grains, Tiny("resume-whole", 5, rl));
        var (stopped, _) = await Run(grains, Tiny("resume-stopped", 3, rl));
        var (resumed, resumedMetrics) = await Run(grains, Tiny("resume-stopped", 5, rl), resume: true);

        whole.State.Should().Be(JobState.Completed, whole.Message);
        stopped.State.Should().Be(JobState.Completed, stopped.Message);
        resumed.State.Should().Be(JobState.Completed, resumed.Message);
        resumedMetrics.Select(m => m.Iteration).Should().Equal([4, 5], "a stopping job checkpoints where it stops (iteration 3), between its regular ones");
        foreach (var m in resumedMetrics)
        {
            var w = wholeMetrics.Single(x => x.Iteration == m.Iteration);
            m.RewardMean.Should().BeApproximately(w.RewardMean, 1e-4);
            m.PolicyLoss.Should().BeApproximately(w.PolicyLoss, 1e-4);
            m.ValueLoss!.Value.Should().BeApproximately(w.ValueLoss!.Value, 1e-4);
            m.Kl.Should().BeApproximately(w.Kl, 1e-4);
            m.Entropy.Should().BeApproximately(w.Entropy, 1e-4);
            m.HeldOutAccuracy.Should().Be(w.HeldOutAccuracy);
            // The ranker's state came back with the checkpoint: the same forecast as if it never stopped. (Not the
            // halfway recall: which responses ended in the step's first half is a matter of timing on real devices.)
            m.Ranking.Should().NotBeNull();
            w.Ranking.Should().NotBeNull();
            (m.Ranking! with { HalfwayPromptRecall = null }).Should().Be(w.Ranking! with { HalfwayPromptRecall = null });
        }
    }

    [Fact]
    public async Task A_resume_that_passes_over_a_damaged_checkpoint_says_so_in_the_jobs_notices()
    {
        var grains = fixture.Cluster.GrainFactory;
        var rl = Tiny("x").Rl! with { CheckpointEvery = 1 };
        var (stopped, _) = await Run(grains, Tiny("resume-damaged", 2, rl));
        var store = new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20);
        await store.WriteAsync("jobs/resume-damaged/checkpoints/it-000002/state.json", new MemoryStream("{\"Iteration\": 2, \"Se"u8.ToArray()));

        var (resumed, metrics) = await Run(grains, Tiny("resume-damaged", 3, rl), resume: true);

        stopped.State.Should().Be(JobState.Completed, stopped.Message);
        resumed.State.Should().Be(JobState.Completed, resumed.Message);
        metrics.Select(m => m.Iteration).Should().Equal([2, 3], "it went back to the last whole checkpoint, iteration 1's");
        resumed.Notices.Should().ContainSingle().Which.Should()
            .StartWith("passed over a damaged checkpoint: jobs/resume-damaged/checkpoints/it-000002/state.json: it is not a whole checkpoint state");
    }

    [Theory]
    [InlineData("rloo", false)]
    [InlineData("reinforce++", false)]
    [InlineData("grpo", true)]
    public async Task Every_algorithm_runs_with_the_kl_penalty_in_the_reward_or_as_a_loss(string algorithm, bool klInReward)
    {
        var name = $"algorithm-{algorithm.Replace("+", "p")}-{klInReward}";
        // Run-length expansion gives partial credit, so the rewards within a group differ from the start.
        var spec = Tiny(name) with { Rl = Tiny("x").Rl! with { Algorithm = SpecNames.Parse<Algorithm>(algorithm), KlCoefficient = 0.1, KlInReward = klInReward, Task = RlTask.Runlength } };

        var (status, metrics) = await Run(fixture.Cluster.GrainFactory, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal([0, 1, 2]);
        metrics[2].Kl.Should().BePositive("the policy has moved away from the reference after an update");
        metrics[2].PolicyLoss.Should().NotBe(0);
        metrics[2].ValueLoss.Should().BeNull("only PPO has a critic");
        var record = await fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(SampleKeys.Of(name, 2, 0)).Record();
        record.Advantages.Should().HaveCount(record.Generated!.Response.Length);
        record.Returns.Should().BeNull();
    }

    [Fact]
    public async Task Resuming_a_job_without_a_checkpoint_fails_saying_so_instead_of_starting_afresh()
    {
        var (status, metrics) = await Run(fixture.Cluster.GrainFactory, Tiny("resume-nothing"), resume: true);

        status.State.Should().Be(JobState.Failed);
        status.Message.Should().Be("job resume-nothing has no complete checkpoint to resume from (none under jobs/resume-nothing/checkpoints/); run it without resume to start it");
        metrics.Should().BeEmpty("nothing ran");
    }

    [Fact]
    public async Task A_missing_reward_model_is_refused_at_submit_naming_the_object()
    {
        var spec = Tiny("reward-missing") with { Rl = Tiny("x").Rl! with { Reward = RewardSource.Model, RewardModel = "nosuch/rm.safetensors" } };

        var submit = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>(spec.Name).Submit(spec);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage("rl.rewardModel: 'nosuch/rm.safetensors' is not in the checkpoint store");
    }

    [Theory]
    [InlineData(StagePolicy.Streaming)]
    [InlineData(StagePolicy.Barrier)]
    public async Task A_scoring_failure_fails_the_job_naming_the_cause_instead_of_hanging(StagePolicy policy)
    {
        var store = new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20);
        var corrupt = $"tests/corrupt-{policy}/rm.safetensors";
        await store.WriteAsync(corrupt, new MemoryStream(Enumerable.Repeat((byte)0xA5, 64).ToArray()));
        var spec = Tiny($"reward-corrupt-{policy}".ToLowerInvariant()) with
        {
            Rl = Tiny("x").Rl! with { Reward = RewardSource.Model, RewardModel = corrupt, StagePolicy = policy },
        };

        var (status, _) = await Run(fixture.Cluster.GrainFactory, spec);

        status.State.Should().Be(JobState.Failed, "a sample that cannot be scored fails its step, and the job with it");
        status.Message.Should().Contain(corrupt);
    }

    [Fact]
    public async Task A_dataset_prompt_too_long_for_the_model_fails_the_job_naming_its_line()
    {
        var (file, status) = await RunOnDataset("long-prompt", "{\"prompt\": \"1+2=\", \"answer\": \"3\"}\n\n{\"prompt\": \"" + new string('1', 10_000) + "+2=\", \"answer\": \"3\"}\n");

        status.State.Should().Be(JobState.Failed);
        status.Message.Should().StartWith($"{file}:3: a prompt of 10004 tokens").And.Contain("exceed the model's 512 positions");
    }

    [Fact]
    public async Task A_dataset_with_a_bad_line_fails_the_job_naming_the_line()
    {
        var (file, status) = await RunOnDataset("bad-dataset", "{\"prompt\": \"1+2=\", \"answer\": \"3\"}\n{\"prompt\": \"1+2=\", \"answer\": \"THREE\"}\n");

        status.State.Should().Be(JobState.Failed);
        status.Message.Should().Contain($"{file}:2:").And.Contain("\"T\" (U+0054)");
    }

    /// <summary>Runs a tiny job on a dataset file with these lines; the file is gone afterwards, its name stays for the assertions.</summary>
    private async Task<(string File, JobStatus Status)> RunOnDataset(string job, string lines)
    {
        var file = Path.Combine(Path.GetTempPath(), $"{job}-{Guid.NewGuid():N}.jsonl");
        await File.WriteAllTextAsync(file, lines);
        try
        {
            var (status, _) = await Run(fixture.Cluster.GrainFactory, Tiny(job) with { Rl = Tiny("x").Rl! with { Dataset = file } });
            return (file, status);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
