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

    private static async Task<Transformer> Publish(string name, HeadKind head, long seed)
    {
        var model = new Transformer(ModelPresets.Demo, head, seed);
        await ModelCatalog.WriteAsync(Store, name, ModelCatalog.Serialize(model));
        return model;
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
