using Grains.Interfaces.Jobs;
using Grains.Iteration;
using Grains.Interfaces.Rl;

namespace Grains.Tests;

/// <summary>Jobs whose generation runs ahead of training by a bounded number of weight versions (rl.async), on the in-process cluster.</summary>
[Collection(ClusterCollection.Name)]
public sealed class AsyncJobTests(ClusterFixture fixture)
{
    private static JobSpec Async(string name, int staleness, int iterations = 5, bool decoupled = true, Algorithm algorithm = Algorithm.Grpo) => RlJobTests.Tiny(name, iterations) with
    {
        Rl = RlJobTests.Tiny("x").Rl! with
        {
            Algorithm = algorithm, SamplesPerPrompt = algorithm == Algorithm.Ppo ? 2 : 4, GenerationWorkers = 2,
            Async = new AsyncSpec { MaxStaleness = staleness, Decoupled = decoupled },
        },
    };

    private static async Task<SampleRecord[]> Records(IGrainFactory grains, JobSpec job, int iteration) =>
        await Task.WhenAll(Enumerable.Range(0, job.Rl!.PromptsPerIteration * job.Rl.SamplesPerPrompt)
            .Select(k => grains.GetGrain<ISampleGrain>(SampleKeys.Of(job.Name, iteration, k)).Record()));

    [Fact]
    public async Task Each_step_is_generated_with_the_weights_k_versions_behind_and_every_sample_is_trained_once()
    {
        var grains = fixture.Cluster.GrainFactory;
        var job = Async("async-lag", staleness: 2);

        var (status, metrics) = await RlJobTests.Run(grains, job);

        status.State.Should().Be(JobState.Completed, status.Message);
        var trained = metrics.Where(m => m.Iteration > 0).ToArray();
        trained.Select(m => m.VersionLagMax).Should().Equal(0, 1, 2, 2, 2);
        trained.Select(m => m.VersionLagMean).Should().Equal(0, 1, 2, 2, 2);
        trained.Should().OnlyContain(m => m.Ledger!.Created == 16 && m.Ledger.Trained == 16 && m.Ledger.Lost == 0);
        for (var i = 1; i <= 5; i++)
        {
            (await Records(grains, job, i)).Should().OnlyContain(r => r.Generated!.WeightVersion == Math.Max(0, i - 3), $"step {i} is generated with version max(0, {i} - 1 - 2)");
        }
    }

    [Fact]
    public async Task Generation_of_the_next_steps_overlaps_training_only_when_asynchronous()
    {
        var grains = fixture.Cluster.GrainFactory;
        var synchronous = Async("async-overlap-0", staleness: 0, iterations: 3);
        var oneStep = Async("async-overlap-1", staleness: 1, iterations: 3);

        var (syncStatus, _) = await RlJobTests.Run(grains, synchronous);
        var (asyncStatus, _) = await RlJobTests.Run(grains, oneStep);

        syncStatus.State.Should().Be(JobState.Completed, syncStatus.Message);
        asyncStatus.State.Should().Be(JobState.Completed, asyncStatus.Message);
        // Synchronous: step 3 is sent to the workers after step 2 has trained, with the weights it trained
        // (its samples are told they were trained beside step 3's start). One step ahead: step 3 is sent as
        // soon as version 1 exists, before step 2 trains (which waits for step 2's generation).
        var (syncStep2, syncStep3) = (await Records(grains, synchronous, 2), await Records(grains, synchronous, 3));
        syncStep3.Min(r => r.Times.Dispatched!.Value).Should().BeAfter(syncStep2.Max(r => r.Times.Scored!.Value));
        syncStep3.Should().OnlyContain(r => r.Generated!.WeightVersion == 2, "version 2 exists once step 2 has trained");
        var (asyncStep2, asyncStep3) = (await Records(grains, oneStep, 2), await Records(grains, oneStep, 3));
        asyncStep3.Min(r => r.Times.Dispatched!.Value).Should().BeBefore(asyncStep2.Min(r => r.Times.Trained!.Value));
    }

    [Fact]
    public async Task An_async_job_without_partial_rollouts_repeats_bit_for_bit_and_decoupling_changes_its_updates()
    {
        var grains = fixture.Cluster.GrainFactory;

        // PPO: the critic's advantages are not zero even where every reward is (the tiny model rarely scores).
        var (firstStatus, first) = await RlJobTests.Run(grains, Async("async-repeat-a", staleness: 1, iterations: 4, algorithm: Algorithm.Ppo));
        var (secondStatus, second) = await RlJobTests.Run(grains, Async("async-repeat-b", staleness: 1, iterations: 4, algorithm: Algorithm.Ppo));
        var (naiveStatus, naive) = await RlJobTests.Run(grains, Async("async-repeat-naive", staleness: 1, iterations: 4, decoupled: false, algorithm: Algorithm.Ppo));

        new[] { firstStatus, secondStatus, naiveStatus }.Should().OnlyContain(s => s.State == JobState.Completed);
        second.Select(m => (m.RewardMean, m.PolicyLoss, m.ValueLoss, m.Entropy, m.HeldOutAccuracy)).Should().Equal(first.Select(m => (m.RewardMean, m.PolicyLoss, m.ValueLoss, m.Entropy, m.HeldOutAccuracy)));
        first[2].PolicyLoss.Should().NotBe(0);
        // Step 2 trains version 1 on samples of version 0: the decoupled loss clips against version 1
        // and weights by version 1 / version 0, plain PPO clips against version 0.
        naive[2].PolicyLoss.Should().NotBe(first[2].PolicyLoss);
        naive[1].PolicyLoss.Should().BeApproximately(first[1].PolicyLoss, 1e-4, "step 1's samples are on-policy, where the two objectives agree");

        // A cap just over 1 leaves out every stale token the newer weights like better: none on-policy, some after.
        var cutJob = Async("async-repeat-cut", staleness: 1, iterations: 3, algorithm: Algorithm.Ppo);
        var (cutStatus, cut) = await RlJobTests.Run(grains, cutJob with { Rl = cutJob.Rl! with { Async = cutJob.Rl.Async! with { BehaviourWeightCap = 1.000001 } } });
        cutStatus.State.Should().Be(JobState.Completed, cutStatus.Message);
        cut[1].BehaviourCutShare.Should().Be(0);
        cut[2].BehaviourCutShare.Should().BeInRange(0.05, 0.95);
        naive.Should().OnlyContain(m => m.BehaviourCutShare == 0, "plain PPO leaves no token out");

        // The clip range by lag (the default) is the fixed one on step 1's on-policy samples and half of it on step 2's,
        // one version old: the second mini-batch, a step away from the proximal weights, is clipped more.
        var fixedJob = Async("async-repeat-fixed-clip", staleness: 1, iterations: 2, algorithm: Algorithm.Ppo);
        var (fixedStatus, fixedClip) = await RlJobTests.Run(grains, fixedJob with { Rl = fixedJob.Rl! with { Async = fixedJob.Rl.Async! with { ClipByLag = false } } });
        fixedStatus.State.Should().Be(JobState.Completed, fixedStatus.Message);
        (fixedClip[1].PolicyLoss, fixedClip[1].ClipFraction).Should().Be((first[1].PolicyLoss, first[1].ClipFraction));
        first[2].ClipFraction.Should().BeGreaterThan(fixedClip[2].ClipFraction);
    }

    [Fact]
    public async Task Streamed_training_takes_its_first_step_while_the_step_is_still_generating()
    {
        var grains = fixture.Cluster.GrainFactory;
        // One worker running one sample at a time: the step's 16 samples end one after another, group by
        // group (8 groups of 2, 4 mini-batches); an untrained model's run-length responses are tens of
        // tokens, so the last 12 samples take far longer to generate than the first 4 take to be scored.
        var rl = RlJobTests.Tiny("x").Rl! with
        {
            Task = RlTask.Runlength, SftSteps = 0, GenerationWorkers = 1, MaxBatch = 1, Epochs = 1, PromptsPerIteration = 8, SamplesPerPrompt = 2, MiniBatches = 4,
        };
        var streamed = RlJobTests.Tiny("stream-training", 3, rl with { Async = new AsyncSpec { MaxStaleness = 0, StreamTraining = true } });
        var whole = RlJobTests.Tiny("whole-training", 3, rl with { Async = new AsyncSpec { MaxStaleness = 0 } });

        var (streamedStatus, streamedMetrics) = await RlJobTests.Run(grains, streamed);
        var (wholeStatus, wholeMetrics) = await RlJobTests.Run(grains, whole);

        streamedStatus.State.Should().Be(JobState.Completed, streamedStatus.Message);
        wholeStatus.State.Should().Be(JobState.Completed, wholeStatus.Message);
        streamedMetrics.Where(m => m.Iteration > 0).Should().OnlyContain(m => m.Ledger!.Trained == 16)
            .And.Contain(m => m.TrainingStartSeconds < m.GenerationSeconds, "the first mini-batch trains while the step's later groups still generate");
        foreach (var m in wholeMetrics.Where(m => m.Iteration > 0))
        {
            m.TrainingStartSeconds.Should().BeGreaterThanOrEqualTo(m.GenerationSeconds + m.ScoringSeconds, $"iteration {m.Iteration}: training waits for the last score");
        }
    }

    [Fact]
    public void Each_token_lags_the_proximal_policy_by_the_versions_since_its_span_was_sampled()
    {
        // Trained by step 6 (proximal version 5): two tokens of version 3, three of version 4, and a last token past the
        // spans (a tool's) with the last span's lag; without spans every token has the response's version.
        var partial = new GeneratedResponse([1, 2, 3, 4, 5, 6], new float[6], 3, "w", false, Spans: [new VersionSpan(3, 2), new VersionSpan(4, 3)]);
        StepTraining.TokenLags(6, partial).Should().Equal(2, 2, 1, 1, 1, 1);
        StepTraining.TokenLags(6, partial with { Spans = null }).Should().Equal(2, 2, 2, 2, 2, 2);
    }

    [Theory]
    [InlineData("""{"streamTraining":true}""", null)]
    [InlineData("""{"maxStaleness":-1}""", "rl.async.maxStaleness: -1 must be between 0 and 16")]
    [InlineData("""{"maxStaleness":17}""", "rl.async.maxStaleness: 17 must be between 0 and 16")]
    [InlineData("""{"behaviourWeightCap":1}""", "rl.async.behaviourWeightCap: 1 must be greater than 1 and at most 1e6")]
    [InlineData("""{"maxStaleness":0,"partialRollouts":true}""", "rl.async.partialRollouts: a synchronous job (maxStaleness 0) has no newer weights*")]
    [InlineData("""{"maxStaleness":2,"partialRollouts":true,"progressTokens":0}""", "rl.async.progressTokens: 0 must be at least 1")]
    [InlineData("""{"maxStaleness":2,"interruptedCache":"recompute"}""", "rl.async.interruptedCache: only partial rollouts interrupt a sample*")]
    [InlineData("""{"maxStaleness":2,"partialRollouts":true,"interruptedCache":"keep"}""", "*interruptedCache*")]
    [InlineData("""{"maxStaleness":2,"partialRollouts":true,"interruptedCache":"recompute"}""", null)]
    [InlineData("""{"maxStaleness":"two"}""", "*maxStaleness*")]
    [InlineData("""{"staleness":2}""", "*'staleness' is not a field of rl.async*")]
    [InlineData("""{"maxStaleness":4,"partialRollouts":true,"decoupled":false,"behaviourWeightCap":2}""", null)]
    [InlineData("""{"maxStaleness":4,"runAhead":"needed"}""", null)]
    [InlineData("""{"maxStaleness":0,"runAhead":"needed"}""", "rl.async.runAhead: a synchronous job (maxStaleness 0) runs nothing ahead*")]
    [InlineData("""{"maxStaleness":2,"runAhead":"some"}""", "*runAhead*")]
    [InlineData("""{"maxStaleness":1,"clipByLag":false}""", null)]
    [InlineData("""{"maxStaleness":1,"decoupled":false,"clipByLag":true}""", "rl.async.clipByLag: plain PPO (decoupled false) clips against the behaviour policy*")]
    [InlineData("""{"maxStaleness":1,"clipByLag":"yes"}""", "*clipByLag*")]
    [InlineData("""{"maxStaleness":2,"partialRollouts":true,"balanceEverySeconds":15}""", null)]
    [InlineData("""{"maxStaleness":2,"balanceEverySeconds":15}""", "rl.async.balanceEverySeconds: without partial rollouts a worker's batch holds one step's samples*")]
    [InlineData("""{"maxStaleness":2,"partialRollouts":true,"balanceEverySeconds":-1}""", "rl.async.balanceEverySeconds: -1 must be 0 (off) or a number of seconds up to 1e6")]
    public void Bad_async_sections_name_the_field(string section, string? expected)
    {
        ParsesOrNames("""{"name":"a","kind":"rl","rl":{"async":""" + section + "}}", expected);
    }

    [Theory]
    [InlineData("""{"miniBatchOrder":"long-together"}""", null)]
    [InlineData("""{"miniBatchOrder":"shuffled","async":{"streamTraining":true}}""", null)]
    [InlineData("""{"miniBatchOrder":"longest"}""", "*miniBatchOrder*")]
    [InlineData("""{"miniBatchOrder":"long-together","async":{"streamTraining":true}}""", "rl.miniBatchOrder: long-together, but rl.async.streamTraining makes each mini-batch of the groups scored next; remove one")]
    [InlineData("""{"miniBatchOrder":"long-together","pipeline":{"stages":2}}""", "rl.miniBatchOrder: long-together spreads the long sequences over data-parallel replicas, but rl.pipeline cuts*")]
    public void Bad_mini_batch_orders_name_the_field(string fields, string? expected)
    {
        ParsesOrNames("""{"name":"a","kind":"rl","rl":""" + fields + "}", expected);
    }

    [Theory]
    [InlineData("""{"trainEarly":true}""", "rl.trainEarly: only colocated devices turn from generating to training; a disaggregated job's trainers have devices of their own*")]
    [InlineData(Colocated + ""","trainEarly":true}""", null)]
    [InlineData(Colocated + ""","trainEarly":true,"stagePolicy":"barrier"}""", "rl.trainEarly: stagePolicy barrier scores nothing until every sample is generated, so no mini-batch is ready early; use 'streaming'")]
    [InlineData(Colocated + ""","trainEarly":true,"miniBatches":1}""", "rl.miniBatches: 1, but rl.trainEarly trains a step's mini-batches while its last one is generated; use 2 or more")]
    [InlineData(Colocated + ""","trainEarly":true,"epochs":2}""", "rl.epochs: 2, but rl.trainEarly trains each mini-batch once, as it is scored; set epochs to 1")]
    [InlineData(Colocated + ""","trainEarly":true,"miniBatchOrder":"long-together"}""", "rl.miniBatchOrder: long-together, but rl.trainEarly makes each mini-batch of the groups scored next; remove one")]
    [InlineData(Colocated + ""","trainEarly":true,"pipeline":{"stages":2}}""", "rl.trainEarly: pipeline stages span every device*")]
    [InlineData(Colocated + ""","trainEarly":true,"tailBatching":{}}""", "rl.trainEarly: a tail-batching round trains once its first groups are in*")]
    [InlineData(Colocated + ""","trainEarly":"soon"}""", "*trainEarly*")]
    public void Bad_early_training_settings_name_the_field(string fields, string? expected)
    {
        ParsesOrNames("""{"name":"a","kind":"rl","rl":""" + fields + "}", expected);
    }

    private const string Colocated = """{"placement":"colocated","generationWorkers":2,"trainingReplicas":2""";

    [Fact]
    public void Asynchrony_is_refused_where_generation_cannot_run_ahead()
    {
        var colocated = RlJobTests.Tiny("x").Rl! with { Placement = RolePlacement.Colocated, Async = new AsyncSpec() };
        var pooled = RlJobTests.Tiny("x").Rl! with { Pipeline = new PipelineSpec(), Async = new AsyncSpec { MaxStaleness = 1 }, Pools = new PoolsSpec { Split = PoolSplit.Auto } };

        var twoEpochs = RlJobTests.Tiny("x").Rl! with { Epochs = 2, Async = new AsyncSpec { StreamTraining = true } };

        colocated.Problem().Should().StartWith("rl.async: colocated devices take turns");
        twoEpochs.Problem().Should().Be("rl.epochs: 2, but rl.async.streamTraining trains each mini-batch once, as it is scored; set epochs to 1");
        pooled.Problem().Should().StartWith("rl.pools: the pools move data-parallel training replicas, and rl.pipeline trains on pipeline stages");
        (RlJobTests.Tiny("x").Rl! with { Pipeline = new PipelineSpec(), Async = new AsyncSpec { MaxStaleness = 1 } }).Problem().Should().BeNull("pipelined training takes its proximal log-probs from its stages");
    }

    [Theory]
    [InlineData("""{"remaining":0.1,"workers":2}""", null)]
    [InlineData("""{"remaining":0}""", "rl.migration.remaining: 0 must be a share of the step's samples, greater than 0 and less than 1")]
    [InlineData("""{"remaining":1}""", "rl.migration.remaining: 1 must be a share*")]
    [InlineData("""{"workers":0}""", "rl.migration.workers: 0 must be at least 1 and fewer than rl.generationWorkers (4)*")]
    [InlineData("""{"workers":4}""", "rl.migration.workers: 4 must be at least 1 and fewer than rl.generationWorkers (4)*")]
    [InlineData("""{"remaining":"most"}""", "*remaining*")]
    [InlineData("""{"worker":2}""", "*'worker' is not a field of rl.migration*")]
    [InlineData("""{"move":"cache"}""", null)]
    [InlineData("""{"move":"teleport"}""", "*move*")]
    [InlineData("""{"retuneEvery":-1}""", "rl.migration.retuneEvery: -1 must be 0 (keep the settings) or a number of steps")]
    [InlineData("""{"retuneEvery":5}""", "rl.migration.retuneEvery: re-tuning simulates steps with the emulated devices' cost model, which real devices do not have; set it to 0")]
    public void Bad_migration_sections_name_the_field(string section, string? expected)
    {
        ParsesOrNames("""{"name":"a","kind":"rl","rl":{"generationWorkers":4,"migration":""" + section + "}}", expected);
    }

    [Fact]
    public void Migration_is_refused_beside_partial_rollouts()
    {
        var rl = RlJobTests.Tiny("x").Rl! with { GenerationWorkers = 4, Async = new AsyncSpec { PartialRollouts = true }, Migration = new MigrationSpec() };

        rl.Problem().Should().StartWith("rl.migration: with partial rollouts every worker admits every step's samples");
    }

    [Theory]
    [InlineData("""{}""", null)]
    [InlineData("""{"extraPrompts":0.5,"extraResponses":0}""", null)]
    [InlineData("""{"extraPrompts":-0.1}""", "rl.tailBatching.extraPrompts: -0.1 must be a share of promptsPerIteration between 0 and 4")]
    [InlineData("""{"extraResponses":5}""", "rl.tailBatching.extraResponses: 5 must be a share of samplesPerPrompt between 0 and 4")]
    [InlineData("""{"extraPrompts":0,"extraResponses":0}""", "rl.tailBatching: extraPrompts 0 and extraResponses 0 launch no sample more than a step trains on (32 x 8); raise one")]
    [InlineData("""{"extraPrompts":"many"}""", "*extraPrompts*")]
    [InlineData("""{"extra":0.5}""", "*'extra' is not a field of rl.tailBatching*")]
    public void Bad_tail_batching_sections_name_the_field(string section, string? expected)
    {
        ParsesOrNames("""{"name":"a","kind":"rl","rl":{"tailBatching":""" + section + "}}", expected);
    }

    [Fact]
    public void Tail_batching_is_refused_in_an_asynchronous_job_and_rounds_up_its_extra_prompts_and_responses()
    {
        var rl = RlJobTests.Tiny("x").Rl! with { Async = new AsyncSpec { MaxStaleness = 1 }, TailBatching = new TailBatchingSpec() };

        rl.Problem().Should().StartWith("rl.tailBatching: tail batching is strictly on-policy");
        var shape = rl with { Async = null, PromptsPerIteration = 6, SamplesPerPrompt = 4, TailBatching = new TailBatchingSpec { ExtraPrompts = 0.1, ExtraResponses = 0.3 } };
        shape.Problem().Should().BeNull();
        (shape.TailBatching!.Prompts(shape), shape.TailBatching.Responses(shape)).Should().Be((7, 6), "6 x 1.1 = 6.6 and 4 x 1.3 = 5.2, each rounded up");
    }

    /// <summary>The job file parses when <paramref name="expected"/> is null, else is refused with that message after the file's name.</summary>
    private static void ParsesOrNames(string json, string? expected)
    {
        var parse = () => JobSpec.FromJson(json, "job.json");

        if (expected is null) parse.Should().NotThrow();
        else parse.Should().Throw<ArgumentException>().WithMessage($"job.json*{expected}");
    }
}
