using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Models;
using Grains.Interfaces.Rl;
using Grains.Rl;
using Grains.Storage;
using Kernels.Generation;
using Kernels.Model;
using Kernels.Rl;

namespace Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class GenerationWorkerTests(ClusterFixture fixture)
{
    private static readonly LocalCheckpointStore Store = new(ClusterFixture.CheckpointDirectory, 1 << 20);

    /// <summary>A configured worker {test}/g0 and two policy versions (0 and 1) of the test's own in the store.</summary>
    private async Task<(IGenerationWorkerGrain Worker, Transformer Older, Transformer Newer, WeightsRef V0, WeightsRef V1)> WorkerWithTwoVersions(string test, int maxBatch, bool partial)
    {
        var worker = fixture.Cluster.GrainFactory.GetGrain<IGenerationWorkerGrain>($"{test}/g0");
        await worker.Configure(new GenerationLimits(maxBatch, MaxTokens: 1000, "demo", MaxSequenceLength: 64, PartialRollouts: partial));
        return (worker, await Publish($"tests/{test}/actor-0.safetensors", HeadKind.LanguageModel, 31), await Publish($"tests/{test}/actor-1.safetensors", HeadKind.LanguageModel, 32),
            new WeightsRef($"tests/{test}/actor-0.safetensors", 0), new WeightsRef($"tests/{test}/actor-1.safetensors", 1));
    }

    /// <summary>A configured worker {test}/g0 with version 0 of the test's own policy loaded.</summary>
    private async Task<(IGenerationWorkerGrain Worker, WeightsRef V0)> WorkerOnVersion0(string test, int maxBatch)
    {
        var (worker, older, newer, v0, _) = await WorkerWithTwoVersions(test, maxBatch, partial: false);
        older.Dispose();
        newer.Dispose();
        await worker.LoadWeights(v0);
        return (worker, v0);
    }

    private static async Task<Transformer> Publish(string name, HeadKind head, long seed)
    {
        var model = new Transformer(ModelPresets.Demo, head, seed);
        await ModelCatalog.WriteAsync(Store, name, ModelCatalog.Serialize(model));
        return model;
    }

    [Fact]
    public async Task A_worker_not_configured_says_its_state_is_lost_when_sent_samples()
    {
        // A new activation (its silo lost after the job readied it): the job's audit readies it again.
        var worker = fixture.Cluster.GrainFactory.GetGrain<IGenerationWorkerGrain>("unconfigured/g0");
        var work = new GenerationWork("unconfigured/1/0", [1, 5, 6], 7, 8, 1.0, [], []);

        await FluentActions.Awaiting(() => worker.Submit([work])).Should().ThrowAsync<StateLostException>().WithMessage("*unconfigured/g0 is not configured");
        (await worker.Holding()).Should().BeEmpty();
    }

    [Fact]
    public async Task Unfinished_samples_handed_back_finish_elsewhere_exactly_as_they_would_have()
    {
        var grains = fixture.Cluster.GrainFactory;
        using var policy = await Publish("tests/handback/actor.safetensors", HeadKind.LanguageModel, 31);
        var weights = new WeightsRef("tests/handback/actor.safetensors", 0);
        var limits = new GenerationLimits(MaxBatch: 2, MaxTokens: 1000, "demo", MaxSequenceLength: 64);
        var (first, second) = (grains.GetGrain<IGenerationWorkerGrain>("handback/g0"), grains.GetGrain<IGenerationWorkerGrain>("handback/g1"));
        foreach (var w in new[] { first, second })
        {
            await w.Configure(limits);
            await w.LoadWeights(weights);
        }
        var work = Enumerable.Range(0, 4).Select(k => new GenerationWork(SampleKeys.Of("handback", 1, k), [1, 5 + k, 6, 7], 100 + k, 40, 1.0, [], [])).ToArray();
        var scoring = new ScoringModels(RlTask.Arithmetic, null, "unused", null, "demo", 1.0, 64);
        var starts = new Dictionary<string, SampleStart>();
        foreach (var w in work)
        {
            var sample = grains.GetGrain<ISampleGrain>(w.SampleId);
            var start = new SampleStart("handback", 1, int.Parse(w.SampleId.Split('/')[^1]), "g", 0, w.Prompt, "", w.Seed, w.MaxNewTokens, 1.0, scoring, 1);
            starts[w.SampleId] = start;
            await sample.Create(start);
            await sample.Dispatched(start, "handback/g0");
        }

        await first.Submit(work);
        var handed = await first.HandBack();

        handed.Select(h => h.SampleId).Should().BeEquivalentTo(work.Select(w => w.SampleId), "nothing finishes 40 tokens in one hand-over");
        handed.Should().Contain(h => h.Response.Length > 0, "the running ones bring their tokens so far");
        (await first.Pending()).Should().Be(0);
        foreach (var h in handed)
        {
            var sample = grains.GetGrain<ISampleGrain>(h.SampleId);
            (await sample.Requeued()).Should().BeTrue();
            await sample.Dispatched(starts[h.SampleId], "handback/g1");
        }
        await second.Submit(handed);
        var records = await WaitGenerated(grains, work.Select(w => w.SampleId).ToArray());

        var uninterrupted = ContinuousBatch.Generate(policy, work.Select(w => new GenerationRequest(w.SampleId, w.Prompt, new SamplingParams(40, 1.0, Seed: w.Seed, StopTokens: [2]))).ToArray(), 4, 64);
        for (var k = 0; k < work.Length; k++)
        {
            records[k].Generated!.Response.Should().Equal(uninterrupted[k].Response, $"sample {k}");
            records[k].Generated!.LogProbs.Should().Equal(uninterrupted[k].LogProbs, (x, y) => Math.Abs(x - y) < 1e-4f);
            records[k].Generated!.Worker.Should().Be("handback/g1");
        }
    }

    [Theory]
    [InlineData(MigrationMove.Cache)]
    [InlineData(MigrationMove.Prefill)]
    public async Task Running_samples_moved_with_their_KV_cache_or_prefilled_again_finish_as_they_would_have(MigrationMove move)
    {
        var grains = fixture.Cluster.GrainFactory;
        var name = $"moved-{move}".ToLowerInvariant();
        using var policy = await Publish($"tests/{name}/actor.safetensors", HeadKind.LanguageModel, 31);
        var weights = new WeightsRef($"tests/{name}/actor.safetensors", 0);
        var (first, second) = (grains.GetGrain<IGenerationWorkerGrain>($"{name}/g0"), grains.GetGrain<IGenerationWorkerGrain>($"{name}/g1"));
        foreach (var w in new[] { first, second })
        {
            await w.Configure(new GenerationLimits(MaxBatch: 4, MaxTokens: 1000, "demo", MaxSequenceLength: 64));
            await w.LoadWeights(weights);
        }
        // Seeds whose responses outlast the first hand-overs (8 decoding steps each), so all four are running when moved.
        var seeds = Enumerable.Range(100, 100).Select(s => (long)s).Where(s => ContinuousBatch.Generate(policy,
            [new GenerationRequest("probe", [1, 5, 6, 7], new SamplingParams(40, 1.0, Seed: s, StopTokens: [2]))], 1, 64)[0].Response.Length >= 30).Take(4).ToArray();
        var work = seeds.Select((seed, k) => new GenerationWork(SampleKeys.Of(name, 1, k), [1, 5, 6, 7], seed, 40, 1.0, [], [], Weights: weights)).ToArray();
        await CreateDispatched(grains, name, work);

        await first.Submit(work);
        var moved = await first.Release([.. work.Select(w => w.SampleId)], 4, move);
        foreach (var m in moved)
        {
            (await grains.GetGrain<ISampleGrain>(m.SampleId).Requeued()).Should().BeTrue();
            await grains.GetGrain<ISampleGrain>(m.SampleId).Dispatched(Start(name, m), $"{name}/g1");
        }
        await second.Submit(moved);
        var records = await WaitGenerated(grains, [.. work.Select(w => w.SampleId)]);

        moved.Should().HaveCount(4).And.Contain(m => m.Response.Length > 0, "nothing finishes 40 tokens in one hand-over");
        if (move == MigrationMove.Cache)
        {
            // Keys and values for every position but the last token's, which the new worker feeds.
            moved.Where(m => m.Response.Length > 0).Should().OnlyContain(m => m.Cache != null && m.Cache.Version == 0 && m.Cache.Positions == m.Prompt.Length + m.Response.Length - 1
                && m.Cache.Entries.Length == 2 * ModelPresets.Demo.Layers);
        }
        else
        {
            moved.Should().OnlyContain(m => m.Cache == null);
        }
        var uninterrupted = ContinuousBatch.Generate(policy, work.Select(w => new GenerationRequest(w.SampleId, w.Prompt, new SamplingParams(40, 1.0, Seed: w.Seed, StopTokens: [2]))).ToArray(), 4, 64);
        for (var k = 0; k < work.Length; k++)
        {
            records[k].Generated!.Response.Should().Equal(uninterrupted[k].Response, $"sample {k}");
            records[k].Generated!.LogProbs.Should().Equal(uninterrupted[k].LogProbs, (x, y) => Math.Abs(x - y) < 1e-4f);
            records[k].Generated!.Worker.Should().Be($"{name}/g1");
        }
    }

    [Fact]
    public async Task An_older_steps_sample_is_admitted_before_newer_ones_queued_and_held_samples_can_be_released()
    {
        var grains = fixture.Cluster.GrainFactory;
        var (worker, older, newer, v0, _) = await WorkerWithTwoVersions("ordered", maxBatch: 1, partial: true);
        using var __ = older;
        using var ___ = newer;
        await worker.LoadWeights(v0);
        // Seeds whose responses take five hand-overs of 8 decoding steps or more, so the first sample is still running while the others are sent.
        CompletedSequence Alone(long seed) => ContinuousBatch.Generate(older, [new GenerationRequest("probe", [1, 5, 6, 7], new SamplingParams(56, 1.0, Seed: seed, StopTokens: [2]))], 1, 64)[0];
        var seeds = Enumerable.Range(200, 200).Select(s => (long)s).Where(s => Alone(s).Response.Length >= 40).Take(4).ToArray();
        GenerationWork Work(int k, int step) => new(SampleKeys.Of("ordered", step, k), [1, 5, 6, 7], seeds[k], 56, 1.0, [], [], Weights: v0, Step: step);
        var (a, b, c, d) = (Work(0, 2), Work(1, 2), Work(2, 2), Work(3, 1));
        await CreateDispatched(grains, "ordered", [a, b, c, d]);

        await worker.Submit([a, b, c]);
        // Step 1's sample, sent after step 2's (its worker lost), goes ahead of step 2's queued ones.
        await worker.Submit([d]);
        var held = await worker.Holding();
        var depth = QueueDepth("ordered/g0");
        var queued = await worker.Release([b.SampleId, c.SampleId], 1, MigrationMove.Prefill);
        var admitted = await worker.Release([a.SampleId, "ordered/none"], 5, MigrationMove.Prefill);
        var records = await WaitGenerated(grains, [d.SampleId, b.SampleId]);

        held.Should().Equal(d.SampleId, b.SampleId, c.SampleId, a.SampleId);
        depth.Should().Be((3, 1), "the silo's queue-depth gauge reads the three queued and the one in the batch, as Holding() lists them");
        queued.Select(r => r.SampleId).Should().Equal([c.SampleId], "the last queued of the named goes first, and no more than asked");
        admitted.Should().ContainSingle().Which.SampleId.Should().Be(a.SampleId, "a sample in the batch is released too, and an unknown name is passed over");
        admitted[0].Response.Should().Equal(Alone(seeds[0]).Response[..admitted[0].Response.Length], "it leaves with its tokens so far");
        records.Select(r => r.Generated!.Worker).Should().OnlyContain(w => w == "ordered/g0");
        records[0].Times.Generated.Should().BeOnOrBefore(records[1].Times.Generated!.Value, "the older step's sample was admitted before the newer step's queued before it");
        foreach (var gone in new[] { a, c }) (await grains.GetGrain<ISampleGrain>(gone.SampleId).Record()).Stage.Should().Be(SampleStage.Generating, "a released sample is not generated here");
        (await worker.Holding()).Should().BeEmpty();
    }

    [Fact]
    public async Task A_partial_rollout_goes_on_under_newer_weights_recording_each_tokens_version_and_log_prob()
    {
        var grains = fixture.Cluster.GrainFactory;
        var (worker, older, newer, v0, v1) = await WorkerWithTwoVersions("partial", maxBatch: 2, partial: true);
        using var _ = older;
        using var __ = newer;
        // The first seed whose response outlasts the worker's first hand-over of 8 steps under version 0.
        var (seed, uninterrupted) = Enumerable.Range(100, 100).Select(s => (Seed: (long)s, Response: ContinuousBatch.Generate(older,
            [new GenerationRequest("probe", [1, 5, 6, 7], new SamplingParams(40, 1.0, Seed: s, StopTokens: [2]))], 1, 64)[0])).First(p => p.Response.Response.Length > 12);
        var work = new GenerationWork(SampleKeys.Of("partial", 1, 0), [1, 5, 6, 7], seed, 40, 1.0, [], [], Weights: v0);
        var scoring = new ScoringModels(RlTask.Arithmetic, null, "unused", null, "demo", 1.0, 64);
        var start = new SampleStart("partial", 1, 0, "g", 0, work.Prompt, "", work.Seed, work.MaxNewTokens, 1.0, scoring, 1);
        var sample = grains.GetGrain<ISampleGrain>(work.SampleId);
        await sample.Create(start);
        await sample.Dispatched(start, "partial/g0");

        // The sample's first steps are queued on the device before Submit returns; the new version interrupts it after them.
        await worker.Submit([work]);
        await worker.LoadWeights(v1);
        // An older version asked for now (a job readying the worker again) changes nothing.
        await worker.LoadWeights(v0);
        var generated = (await WaitGenerated(grains, [work.SampleId]))[0].Generated!;

        generated.WeightVersion.Should().Be(0, "the oldest version that sampled it");
        generated.Spans.Should().Equal(new VersionSpan(0, 8), new VersionSpan(1, generated.Response.Length - 8));
        generated.Partial.Should().BeTrue();
        generated.Response[..8].Should().Equal(uninterrupted.Response[..8]);
        generated.LogProbs[..8].Should().Equal(uninterrupted.LogProbs[..8], (x, y) => Math.Abs(x - y) < 1e-4f);
        // Every later token's behaviour log-prob is the newer weights' own, recomputed here independently.
        var underNewer = ResponseScoring.LogProbs(newer, [(work.Prompt, generated.Response)], 1.0)[0];
        generated.LogProbs[8..].Should().Equal(underNewer[8..], (x, y) => Math.Abs(x - y) < 1e-4f);
        underNewer[..8].Should().NotEqual(generated.LogProbs[..8], "the first tokens were sampled by the other weights");
    }

    [Fact]
    public async Task Without_partial_rollouts_a_worker_loads_a_samples_version_only_once_its_batch_has_emptied()
    {
        var grains = fixture.Cluster.GrainFactory;
        var (worker, older, newer, v0, v1) = await WorkerWithTwoVersions("versions", maxBatch: 4, partial: false);
        using var _ = older;
        using var __ = newer;
        var work = new[] { v0, v0, v1, v1 }.Select((v, k) => new GenerationWork(SampleKeys.Of("versions", 1, k), [1, 5 + k, 6, 7], 103 + k, 30, 1.0, [], [], Weights: v)).ToArray();
        await CreateDispatched(grains, "versions", work);

        await worker.Submit(work);
        // A version asked for while busy (a job readying the worker again after a silo's loss) changes no sample's.
        await worker.LoadWeights(v1);
        var records = await WaitGenerated(grains, [.. work.Select(w => w.SampleId)]);

        records.Select(r => r.Generated!.WeightVersion).Should().Equal(0, 0, 1, 1);
        records.Should().OnlyContain(r => !r.Generated!.Partial);
        // Each is exactly what its own version generates alone: the two versions never shared a batch.
        for (var k = 0; k < work.Length; k++)
        {
            var model = k < 2 ? older : newer;
            var alone = ContinuousBatch.Generate(model, [new GenerationRequest(work[k].SampleId, work[k].Prompt, new SamplingParams(30, 1.0, Seed: work[k].Seed, StopTokens: [2]))], 1, 64)[0];
            records[k].Generated!.Response.Should().Equal(alone.Response, $"sample {k}");
        }
        records.Take(2).Max(r => r.Times.Generated).Should().BeOnOrBefore(records.Skip(2).Min(r => r.Times.Generated)!.Value);
    }

    [Fact]
    public async Task A_version_that_fails_to_load_stops_the_worker_naming_the_object_after_the_older_samples_finish()
    {
        var grains = fixture.Cluster.GrainFactory;
        var (worker, older, newer, v0, v1) = await WorkerWithTwoVersions("broken", maxBatch: 4, partial: false);
        using var _ = older;
        using var __ = newer;
        await Store.WriteAsync(v1.Object, new MemoryStream([.. Enumerable.Repeat((byte)7, 64)]));
        var work = new[] { v0, v0, v1 }.Select((v, k) => new GenerationWork(SampleKeys.Of("broken", 1, k), [1, 5 + k, 6, 7], 103 + k, 30, 1.0, [], [], Weights: v)).ToArray();
        await CreateDispatched(grains, "broken", work);

        await worker.Submit(work);
        var generated = await WaitGenerated(grains, [work[0].SampleId, work[1].SampleId]);
        for (var i = 0; i < 200 && (await worker.Holding()).Length > 0; i++) await Task.Delay(50);

        generated.Should().OnlyContain(r => r.Generated!.WeightVersion == 0, "the older version's samples finish before the newer one is loaded");
        (await worker.Holding()).Should().BeEmpty("the sample of the version that failed is given up, for the job to send elsewhere");
        (await grains.GetGrain<ISampleGrain>(work[2].SampleId).Record()).Stage.Should().Be(SampleStage.Generating);
        var again = () => worker.Submit([work[0] with { SampleId = SampleKeys.Of("broken", 1, 9) }]);
        (await again.Should().ThrowAsync<WorkerStoppedException>()).WithMessage("broken/g0 stopped: weights version 1 (tests/broken/actor-1.safetensors) failed to load: *");
        await worker.Invoking(w => w.LoadWeights(v0)).Should().ThrowAsync<WorkerStoppedException>();
    }

    [Fact]
    public async Task A_version_that_fails_to_load_while_a_partial_batch_decodes_stops_the_worker_for_that_reason_alone()
    {
        // One sample decodes, one waits behind it: the loop comes round while the version the job asked for
        // loads, and waits on it. Before, the load's failure reached the loop too, which stopped the worker a
        // second time as "generation failed": the job noticed the one stop twice (CI, stop 56).
        var grains = fixture.Cluster.GrainFactory;
        var (worker, older, newer, v0, v1) = await WorkerWithTwoVersions("broken-partial", maxBatch: 1, partial: true);
        older.Dispose();
        newer.Dispose();
        await Store.WriteAsync(v1.Object, new MemoryStream([.. Enumerable.Repeat((byte)7, 64)]));
        var work = Enumerable.Range(0, 2).Select(k => new GenerationWork(SampleKeys.Of("broken-partial", 1, k), [1, 5 + k, 6, 7], 103 + k, 40, 1.0, [], [], Weights: v0)).ToArray();
        await CreateDispatched(grains, "broken-partial", work);

        await worker.Submit(work);
        var load = () => worker.LoadWeights(v1);
        var why = (await load.Should().ThrowAsync<WorkerStoppedException>()).Which.Message;
        for (var i = 0; i < 200 && (await worker.Holding()).Length > 0; i++) await Task.Delay(50);

        why.Should().Match("broken-partial/g0 stopped: weights version 1 (tests/broken-partial/actor-1.safetensors) failed to load: *");
        (await worker.Holding()).Should().BeEmpty("both samples are given up, for the job to send elsewhere");
        var again = () => worker.Submit([work[0] with { SampleId = SampleKeys.Of("broken-partial", 1, 9) }]);
        (await again.Should().ThrowAsync<WorkerStoppedException>()).Which.Message.Should().Be(why, "the worker stopped once, for the version");
    }

    [Fact]
    public async Task An_engine_that_fails_mid_batch_stops_its_worker_which_gives_up_every_sample_it_held()
    {
        // A token past the model's vocabulary fails the prefill inside the worker's loop. Before, the loop's
        // task faulted unobserved, the samples stayed held there and the job waited for them for ever.
        var grains = fixture.Cluster.GrainFactory;
        var (worker, v0) = await WorkerOnVersion0("faulted", maxBatch: 4);
        var work = new[] { new[] { 1, 5, 6, 7 }, [1, 5, 100_000, 7], [1, 8, 6, 7] }
            .Select((prompt, k) => new GenerationWork(SampleKeys.Of("faulted", 1, k), prompt, 103 + k, 30, 1.0, [], [], Weights: v0)).ToArray();
        await CreateDispatched(grains, "faulted", work);

        await worker.Submit(work);
        for (var i = 0; i < 200 && (await worker.Holding()).Length > 0; i++) await Task.Delay(50);

        (await worker.Holding()).Should().BeEmpty("every sample it held is given up, for the job's audit to send elsewhere");
        (await worker.Pending()).Should().Be(0);
        foreach (var w in work) (await grains.GetGrain<ISampleGrain>(w.SampleId).Record()).Stage.Should().Be(SampleStage.Generating);
        var again = () => worker.Submit([work[0] with { SampleId = SampleKeys.Of("faulted", 1, 9) }]);
        (await again.Should().ThrowAsync<WorkerStoppedException>()).WithMessage("faulted/g0 stopped: generation failed: *");
    }

    [Fact]
    public async Task Greedy_responses_call_tools_as_samples_do_and_equal_the_same_samples_generated_at_temperature_0()
    {
        // Two paths: a sample's turns resume from their KV cache on the worker's batch; a greedy evaluation's
        // rounds read the whole context again. Their tokens are the same, the tool's answers in both.
        var grains = fixture.Cluster.GrainFactory;
        var (worker, v0) = await WorkerOnVersion0("greedy-tools", maxBatch: 8);
        var tools = new ToolUse([ToolKind.Calc], MaxTurns: 2, TimeoutSeconds: 60, MaxResultCharacters: 16);
        var prompts = Enumerable.Range(0, 16).Select(k => new[] { 1, 5 + k % 10, 6 + k / 10, 7 }).ToArray();

        var greedy = await worker.Greedy(prompts, 30, v0, tools);

        var work = prompts.Select((p, k) => new GenerationWork(SampleKeys.Of("greedy-tools", 1, k), p, 7, 30, 0.0, [], [], Weights: v0, Tools: tools)).ToArray();
        await CreateDispatched(grains, "greedy-tools", work);
        await worker.Submit(work);
        var records = await WaitGenerated(grains, [.. work.Select(w => w.SampleId)]);
        var tokenizer = ModelCatalog.Tokenizer("demo");
        var calls = 0;
        for (var k = 0; k < work.Length; k++)
        {
            greedy[k].Should().Equal(records[k].Generated!.Response, $"prompt {k}");
            var text = tokenizer.Decode(greedy[k].TakeWhile(t => t != tokenizer.EosId));
            // Independently: after each of the first two ']' the calculator's own answer to the call (an error for a malformed one).
            var at = 0;
            for (var turn = 0; turn < tools.MaxTurns && text.IndexOf(']', at) is var close and >= 0; turn++, calls++)
            {
                var (call, error) = Kernels.Tools.ToolSyntax.Parse(text[..(close + 1)]);
                var result = call?.Tool == "calc" ? Kernels.Tools.Calculator.Evaluate(call.Argument) : null;
                // A malformed call's message is told whole; the calculator's own error is held to the result limit.
                var answer = result is null ? Grains.Tools.ToolCalls.Readable(error ?? $"error: no tool {call!.Tool} (tools: calc)", int.MaxValue, tokenizer)
                    : result.StartsWith("error:") ? Grains.Tools.ToolCalls.Readable(result, tools.MaxResultCharacters, tokenizer) : result;
                var expected = Kernels.Tools.ToolSyntax.Answer(answer);
                var written = text.Substring(close + 1, Math.Min(expected.Length, text.Length - close - 1));
                written.Should().Be(expected[..written.Length], $"prompt {k}: call {turn + 1} of {text}");
                at = close + 1 + written.Length;
            }
        }
        calls.Should().BeGreaterThan(0, "some of the untrained model's greedy responses write a ']'");
    }

    [Fact]
    public async Task A_learned_reward_model_scores_instead_of_the_verifier()
    {
        using var reference = await Publish("tests/reward/reference.safetensors", HeadKind.LanguageModel, 41);
        using var rewardModel = await Publish("tests/reward/reward.safetensors", HeadKind.Scalar, 42);
        var models = new ScoringModels(RlTask.Arithmetic, "tests/reward/reward.safetensors", "tests/reward/reference.safetensors", null, "demo", 1.0, 64);
        int[] prompt = [1, 4, 5, 16, 6, 17];
        int[] response = [7, 8, 2];

        var scores = await fixture.Cluster.GrainFactory.GetGrain<IScoringGrain>("reward-job").Score(new ScoringRequest("s", prompt, response, "42", models));

        var expected = ResponseScoring.Rewards(rewardModel, [(prompt, response)])[0];
        scores.Reward.Should().BeApproximately(expected, 1e-5).And.NotBe(0);
        scores.Values.Should().BeNull("no critic was named");
        await FluentActions.Awaiting(() => fixture.Cluster.GrainFactory.GetGrain<IScoringGrain>("reward-job").Score(new ScoringRequest("s", prompt, response, "42", models with { ReferenceWeights = "tests/reward/missing.safetensors" })))
            .Should().ThrowAsync<Exception>().WithMessage("*missing*");
    }

    /// <summary>Creates each work's sample grain (step and index from its id) and records it dispatched to {job}/g0.</summary>
    private static async Task CreateDispatched(IGrainFactory grains, string job, GenerationWork[] work)
    {
        foreach (var w in work)
        {
            await grains.GetGrain<ISampleGrain>(w.SampleId).Create(Start(job, w));
            await grains.GetGrain<ISampleGrain>(w.SampleId).Dispatched(Start(job, w), $"{job}/g0");
        }
    }

    private static SampleStart Start(string job, GenerationWork w)
    {
        var key = w.SampleId.Split('/');
        var scoring = new ScoringModels(RlTask.Arithmetic, null, "unused", null, "demo", 1.0, 64);
        return new SampleStart(job, int.Parse(key[^2]), int.Parse(key[^1]), "g", 0, w.Prompt, "", w.Seed, w.MaxNewTokens, 1.0, scoring, 1);
    }

    /// <summary>A worker's samples waiting and running as the silo's actors.queue.depth gauge reads them now (the cluster runs in this process).</summary>
    private static (int Waiting, int Running) QueueDepth(string worker)
    {
        var (waiting, running) = (-1, -1);
        using var listener = new System.Diagnostics.Metrics.MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Name == "actors.queue.depth") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<int>((_, value, tags, _) =>
        {
            var named = tags.ToArray().ToDictionary(t => t.Key, t => t.Value as string);
            if (named["worker"] != worker) return;
            if (named["state"] == "waiting") waiting = value;
            else running = value;
        });
        listener.Start();
        listener.RecordObservableInstruments();
        return (waiting, running);
    }

    private static async Task<SampleRecord[]> WaitGenerated(IGrainFactory grains, string[] ids)
    {
        for (var attempt = 0; ; attempt++)
        {
            var records = await Task.WhenAll(ids.Select(id => grains.GetGrain<ISampleGrain>(id).Record()));
            if (records.All(r => r.Stage >= SampleStage.Generated) || attempt > 600) return records;
            await Task.Delay(50);
        }
    }
}
