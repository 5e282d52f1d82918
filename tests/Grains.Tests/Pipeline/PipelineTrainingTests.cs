using Client.Benchmarks;
using Grains.Interfaces.Jobs;
using Grains.Models;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Grains.Pipeline;
using Grains.Planning;
using Grains.Rl;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Rl;
using Kernels.Training;
using static TorchSharp.torch;

namespace Grains.Tests.Pipeline;

/// <summary>Pipelined steps on stage grains against the same step on one device.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PipelineTrainingTests(ClusterFixture fixture)
{
    private static TrainerSetup Trainer(bool critic) => new("demo", critic, Seed: critic ? 12 : 11, LearningRate: 1e-4, WarmupSteps: 0, ClipRatio: 0.2,
        KlLossCoefficient: 0, KlEstimator: KlEstimatorKind.K3, EntropyCoefficient: 0.01, Temperature: 1.0, ValueClip: 0.5);

    private static TrainingRow[] Rows(int count, int seed) => SyntheticRows.Make(count, ModelCatalog.Config("demo").VocabSize, seed, (3, 8), (2, 6));

    /// <summary>The same step on one whole model: one backward over every row, one optimizer step.</summary>
    private static Dictionary<string, float[]> OneDevice(TrainerSetup setup, TrainingRow[] rows)
    {
        using var model = new Transformer(ModelCatalog.Config(setup.Model), setup.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, setup.Seed);
        using var optimizer = new AdamWOptimizer(model.parameters(), new OptimizerOptions { LearningRate = setup.LearningRate, WarmupSteps = 0, WeightDecay = 0 });
        var samples = rows.Select(r => new TrainingSample(r.Prompt, r.Response, r.OldLogProbs, r.Advantages, r.OldValues, r.Returns, r.RefLogProbs)).ToArray();
        var tokens = rows.Sum(r => r.Response.Length);
        if (setup.Critic) PolicyUpdate.CriticBackward(model, samples, tokens, setup.ValueClip);
        else PolicyUpdate.ActorBackward(model, samples, tokens, new ActorLossOptions(setup.ClipRatio, setup.ClipRatio, EntropyCoefficient: setup.EntropyCoefficient));
        optimizer.Step();
        return model.state_dict().ToDictionary(p => p.Key, p => p.Value.to(float32).data<float>().ToArray());
    }

    private static Dictionary<string, float[]> Read(byte[][] stages)
    {
        var weights = new Dictionary<string, float[]>();
        foreach (var bytes in stages)
        {
            using var content = SafeTensors.Load(new MemoryStream(bytes));
            foreach (var (name, tensor) in content.Tensors) weights.Add(name, tensor.to(float32).data<float>().ToArray());
        }
        return weights;
    }

    private static void ShouldMatch(Dictionary<string, float[]> pipelined, Dictionary<string, float[]> expected, Dictionary<string, float[]> initial)
    {
        pipelined.Keys.Should().BeEquivalentTo(expected.Keys, "the stages together hold every parameter once");
        foreach (var (name, values) in expected)
        {
            var difference = values.Zip(pipelined[name], (a, b) => Math.Abs(a - b)).Max();
            difference.Should().BeLessThan(1e-5f, name);
        }
        expected.Any(p => !p.Value.SequenceEqual(initial[p.Key])).Should().BeTrue("the step moved the weights");
    }

    private static Dictionary<string, float[]> Initial(TrainerSetup setup)
    {
        using var model = new Transformer(ModelCatalog.Config(setup.Model), setup.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, setup.Seed);
        return model.state_dict().ToDictionary(p => p.Key, p => p.Value.to(float32).data<float>().ToArray());
    }

    private static TrainingRow[][][] Cut(TrainingRow[] rows, ModelLayout layout) => JobPipeline.Cut(rows, layout);

    [Theory]
    [InlineData("1f1b", 4, 1, 4, false)]
    [InlineData("gpipe", 2, 1, 4, false)]
    [InlineData("1f1b", 2, 2, 3, false)]
    [InlineData("1f1b", 3, 1, 4, true)]
    public async Task A_pipelined_step_leaves_the_weights_of_the_same_step_on_one_device(string name, int stages, int replicas, int microBatches, bool critic)
    {
        var layout = new ModelLayout(critic ? "critic" : "actor", stages, replicas, microBatches);
        var setup = Trainer(critic);
        var rows = Rows(replicas * microBatches * 2, seed: stages * 10 + replicas);
        var trainer = new PipelineTrainer(fixture.Cluster.GrainFactory, $"pp-{name}-{stages}-{replicas}-{critic}", PipelineSchedules.Of(SpecNames.Parse<PipelineScheduleKind>(name), layout), [setup]);
        await trainer.Setup();

        var result = await trainer.Step(1, [Cut(rows, layout)]);

        var expected = OneDevice(setup, rows);
        for (var r = 0; r < replicas; r++) ShouldMatch(Read(await trainer.Weights(0, r)), expected, Initial(setup));
        result.Sums[0].Tokens.Should().Be(rows.Sum(r => r.Response.Length));
        result.DeviceBusy.Should().HaveCount(stages * replicas).And.OnlyContain(b => b > 0);
        result.BubbleFraction.Should().BeInRange(0, 1);
        var progress = await fixture.Cluster.GrainFactory.GetGrain<IMicroBatchGrain>(PipelineKeys.MicroBatch($"pp-{name}-{stages}-{replicas}-{critic}", layout.Name, 0, 0)).Progress();
        progress.Should().BeEquivalentTo(new MicroBatchProgress(1, 2, [.. Enumerable.Range(0, stages)], [.. Enumerable.Range(0, stages)]));
        await trainer.Release();
    }

    [Fact]
    public async Task Actor_and_critic_trained_in_one_fused_schedule_match_each_trained_alone()
    {
        // Actor in 4 stages with 4 micro-batches; critic in 2 stages, two replicas reversed on the same 4 devices, 2 micro-batches each.
        var plan = FusedPlanner.Plan(new PipelineProblem(4, 2, 4, 2, 1, 1, 1, 1), new PlannerOptions(Seconds: 10, Seed: 3, Chains: 1, MaxMovesPerChain: 2000)).Plan;
        var schedule = PipelineSchedules.Fused(plan);
        var (actor, critic) = (Trainer(critic: false), Trainer(critic: true));
        var (actorRows, criticRows) = (Rows(8, 41), Rows(8, 42));
        var trainer = new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-fused", schedule, [actor, critic]);
        await trainer.Setup();

        var result = await trainer.Step(1, [Cut(actorRows, schedule.Models[0]), Cut(criticRows, schedule.Models[1])]);

        ShouldMatch(Read(await trainer.Weights(0)), OneDevice(actor, actorRows), Initial(actor));
        var criticExpected = OneDevice(critic, criticRows);
        ShouldMatch(Read(await trainer.Weights(1, 0)), criticExpected, Initial(critic));
        ShouldMatch(Read(await trainer.Weights(1, 1)), criticExpected, Initial(critic));
        result.DeviceBusy.Should().HaveCount(4);
        result.Stages.Select(s => s.Device).Distinct().Should().HaveCount(4, "actor and critic stages share the four devices");
        var leases = await fixture.Cluster.GrainFactory.GetGrain<Interfaces.Cluster.IDeviceDirectoryGrain>(0).Leases();
        leases.Where(l => l.Holder.Contains("pp-fused/")).Should().HaveCount(4, "two stages on one device hold one lease");
        await trainer.Release();
    }

    /// <summary>
    /// An asynchronous job's proximal policy on a pipelined actor: forward passes alone through its stages give
    /// each row's log-probs as the whole model gives them, before a step and after it; the micro-batches went
    /// through every stage forward and none backward.
    /// </summary>
    [Fact]
    public async Task Forward_passes_alone_give_each_rows_log_probs_as_the_whole_model_before_and_after_a_step()
    {
        var layout = new ModelLayout("actor", 3, 2, 3);
        var setup = Trainer(critic: false);
        var (trained, asked) = (Rows(12, 61), Rows(7, 62));
        var trainer = new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-logprobs", PipelineSchedules.OneForwardOneBackward(layout), [setup]);
        await trainer.Setup();
        // Replica 0 takes three micro-batches of the seven rows, replica 1 fewer than the schedule's three.
        TrainingRow[][][] cut = [[asked[..2], asked[2..4], asked[4..5]], [asked[5..6], asked[6..]]];
        float[][] Flat(float[][][][] byReplica) => [.. byReplica[0].SelectMany(mb => mb), .. byReplica[1].SelectMany(mb => mb)];

        var before = Flat(await trainer.LogProbs(1, 0, cut));
        await trainer.Step(2, [Cut(trained, layout)]);
        var after = Flat(await trainer.LogProbs(3, 0, cut));

        using var whole = new Transformer(ModelCatalog.Config(setup.Model), HeadKind.LanguageModel, setup.Seed);
        var pairs = asked.Select(r => (r.Prompt, r.Response)).ToArray();
        ShouldEqual(before, ResponseScoring.LogProbs(whole, pairs, setup.Temperature));
        using var optimizer = new AdamWOptimizer(whole.parameters(), new OptimizerOptions { LearningRate = setup.LearningRate, WarmupSteps = 0, WeightDecay = 0 });
        PolicyUpdate.ActorBackward(whole, [.. trained.Select(r => new TrainingSample(r.Prompt, r.Response, r.OldLogProbs, r.Advantages, r.OldValues, r.Returns, r.RefLogProbs))],
            trained.Sum(r => r.Response.Length), new ActorLossOptions(setup.ClipRatio, setup.ClipRatio, EntropyCoefficient: setup.EntropyCoefficient));
        optimizer.Step();
        var expectedAfter = ResponseScoring.LogProbs(whole, pairs, setup.Temperature);
        ShouldEqual(after, expectedAfter);
        after.Zip(before, (a, b) => a.Zip(b, (x, y) => Math.Abs(x - y)).Max()).Max().Should().BeGreaterThan(1e-4f, "the step moved the weights");
        var progress = await fixture.Cluster.GrainFactory.GetGrain<IMicroBatchGrain>(PipelineKeys.MicroBatch("pp-logprobs", "actor", 1, 1)).Progress();
        progress.Should().BeEquivalentTo(new MicroBatchProgress(3, 1, [0, 1, 2], []));
        await trainer.Release();
    }

    private static void ShouldEqual(float[][] actual, float[][] expected)
    {
        actual.Select(r => r.Length).Should().Equal(expected.Select(r => r.Length), "one log-prob a response token");
        for (var k = 0; k < expected.Length; k++) actual[k].Zip(expected[k], (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-4f, $"row {k}");
    }

    [Fact]
    public async Task Bf16_on_the_wire_rounds_activations_and_gradients_but_keeps_the_step()
    {
        var layout = new ModelLayout("actor", 2, 1, 2);
        var rows = Cut(Rows(8, 77), layout);
        var fp32 = new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-wire-fp32", PipelineSchedules.OneForwardOneBackward(layout), [Trainer(false)]);
        var bf16 = new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-wire-bf16", PipelineSchedules.OneForwardOneBackward(layout), [Trainer(false)], bfloat16: true);
        await fp32.Setup();
        await bf16.Setup();

        var (exact, rounded) = (await fp32.Step(1, [rows]), await bf16.Step(1, [rows]));

        rounded.Sums[0].Loss.Should().NotBe(exact.Sums[0].Loss, "the last stage saw bf16-rounded activations");
        rounded.Sums[0].Loss.Should().BeApproximately(exact.Sums[0].Loss, Math.Abs(exact.Sums[0].Loss) * 0.01 + 1e-3);
        rounded.GradNorm[0].Should().BeApproximately(exact.GradNorm[0], exact.GradNorm[0] * 0.02);
        await fp32.Release();
        await bf16.Release();
    }

    [Fact]
    public async Task A_schedule_that_cannot_run_is_refused_before_any_grain_is_touched()
    {
        var good = PipelineSchedules.GPipe(new ModelLayout("actor", 2, 1, 2));
        var bad = good with { Devices = [good.Devices[0], [.. good.Devices[1].Reverse()]] };

        var create = () => new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-bad", bad, [Trainer(false)]);
        var wrongRows = async () =>
        {
            var trainer = new PipelineTrainer(fixture.Cluster.GrainFactory, "pp-rows", good, [Trainer(false)]);
            await trainer.Step(1, [[[Rows(1, 1)]]]);
        };

        create.Should().Throw<ArgumentException>().WithMessage("schedule 'gpipe': the order cannot be followed*");
        await wrongRows.Should().ThrowAsync<ArgumentException>().WithMessage("actor needs 1 replica(s) of 2 micro-batch(es) of at least one sample");
    }
}
