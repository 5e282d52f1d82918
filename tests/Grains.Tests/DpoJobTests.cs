using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Preference;
using Grains.Storage;
using Kernels.Model;
using Kernels.Preference;
using Kernels.Tasks;

namespace Grains.Tests;

/// <summary>DPO jobs (kind "dpo") on the in-process cluster: preference pairs of the arithmetic task, small enough to run in seconds.</summary>
[Collection(ClusterCollection.Name)]
public sealed class DpoJobTests(ClusterFixture fixture)
{
    private static readonly LocalCheckpointStore Store = new(ClusterFixture.CheckpointDirectory, 1 << 20);

    /// <summary>Pairs of the arithmetic task: the right answer chosen over a wrong one (a digit too many: a preference a barely warm-started model learns in a few steps).</summary>
    internal static string PairsFile(string name, int count = 192)
    {
        var path = Path.Combine(ClusterFixture.CheckpointDirectory, $"{name}.pairs.jsonl");
        Directory.CreateDirectory(ClusterFixture.CheckpointDirectory);
        var pairs = TaskDataset.Generate(new ArithmeticTask(), count, seed: 31).Select(e =>
            new PreferencePair(e.Prompt, e.Answer, e.Answer + "0"));
        using var writer = new StreamWriter(path);
        PreferenceFile.Write(writer, pairs);
        return path;
    }

    internal static JobSpec Tiny(string name, int iterations, int replicas = 1) => new()
    {
        Name = name,
        Kind = JobKind.Dpo,
        Iterations = iterations,
        Seed = 5,
        Rl = new RlSpec
        {
            TrainExamples = 64, HeldOutExamples = 8, SftSteps = 20, SftBatchSize = 16, MiniBatches = 2, ActorLearningRate = 2e-3, WarmupSteps = 0,
            TrainingReplicas = replicas, EvalEvery = 2, CheckpointEvery = 2, MaxBatch = 8,
        },
        Dpo = new DpoSpec { Pairs = PairsFile(name), HeldOutPairs = 32, PairsPerIteration = 32, Beta = 0.1 },
    };

    [Theory]
    [InlineData(PreferenceLossKind.Sigmoid)]
    [InlineData(PreferenceLossKind.Ipo)]
    public async Task A_dpo_job_ranks_held_out_pairs_right_after_training_with_the_reference_log_probs_computed_once(PreferenceLossKind loss)
    {
        var grains = fixture.Cluster.Client;
        var name = $"dpo-learns-{SpecNames.Of(loss)}";
        var spec = Tiny(name, iterations: 6, replicas: 2);

        var (status, metrics) = await RlJobTests.Run(grains, spec with { Dpo = spec.Dpo! with { Loss = loss } });

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(0, 1, 2, 3, 4, 5, 6);
        var first = metrics[0].Preference!;
        var last = metrics[^1].Preference!;
        first.HeldOutMargin.Should().BeApproximately(0, 1e-3, "the policy starts as its own reference");
        last.HeldOutMargin.Should().BeGreaterThan(0.05);
        last.HeldOutAccuracy.Should().BeGreaterThan(0.8);
        // At the start every margin is 0: DPO's -log sigmoid(0), IPO's (0 - 1/(2 beta))^2.
        first.HeldOutLoss.Should().BeApproximately(loss == PreferenceLossKind.Sigmoid ? Math.Log(2) : 25, 1e-3);
        last.Loss.Should().BeLessThan(metrics[1].Preference!.Loss);
        metrics.Skip(1).Should().OnlyContain(m => m.Preference!.Pairs == 32 && m.DeviceBusy.Keys.Count(k => k.Contains("/actor/")) == 2);
        metrics.Where(m => m.Iteration % 2 == 0).Should().OnlyContain(m => m.HeldOutAccuracy != null && m.Preference!.HeldOutAccuracy != null);

        // The reference log-probs kept in the store are the reference model's, computed here independently.
        var keys = new JobKeys(name);
        using var reference = new Transformer(ModelCatalog.Config(RlSpec.DemoModel));
        ModelCatalog.Deserialize(reference, await ModelCatalog.ReadAsync(Store, keys.ReferenceWeights), keys.ReferenceWeights);
        using var buffer = new MemoryStream();
        await Store.ReadAsync(keys.PreferenceReference, buffer);
        var kept = System.Text.Json.JsonDocument.Parse(buffer.ToArray()).RootElement;
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(RlSpec.DemoModel));
        var pairs = PreferenceFile.ReadFile(spec.Dpo!.Pairs);
        kept.GetProperty("Chosen").GetArrayLength().Should().Be(pairs.Count);
        foreach (var k in new[] { 0, 57, pairs.Count - 1 })
        {
            var prompt = encoding.Prompt(new TaskExample(pairs[k].Prompt, ""));
            var expected = PreferenceUpdate.SequenceLogProbs(reference, [(prompt, [.. encoding.Tokenizer.Encode(pairs[k].Rejected), encoding.Tokenizer.EosId])]);
            kept.GetProperty("Rejected")[k].GetSingle().Should().BeApproximately(expected[0], 1e-3f, $"pair {k}'s rejected response");
        }
    }

    [Fact]
    public async Task A_pipelined_dpo_job_trains_as_its_data_parallel_twin_and_measures_held_out_pairs_on_the_scoring_workers()
    {
        var grains = fixture.Cluster.Client;
        var twin = Tiny("dpo-pipelined-twin", iterations: 4, replicas: 2);
        var spec = Tiny("dpo-pipelined", iterations: 4, replicas: 2) with { Dpo = twin.Dpo };
        spec = spec with { Rl = spec.Rl! with { Pipeline = new PipelineSpec { Stages = 2, MicroBatches = 2 } } };

        var (twinStatus, twinMetrics) = await RlJobTests.Run(grains, twin);
        var (status, metrics) = await RlJobTests.Run(grains, spec);

        (twinStatus.State, status.State).Should().Be((JobState.Completed, JobState.Completed), status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(0, 1, 2, 3, 4);
        // The same warm start, pairs and steps: the pipeline's sums are the replicas' (to float error), its held-out pairs scored from the published weights.
        metrics[0].Preference!.HeldOutMargin.Should().Be(0, "version 0 is the reference itself, scored by the same workers");
        metrics[0].Preference!.HeldOutLoss.Should().BeApproximately(Math.Log(2), 1e-6);
        for (var i = 1; i <= 4; i++)
        {
            var (piped, replicated) = (metrics[i].Preference!, twinMetrics[i].Preference!);
            piped.Pairs.Should().Be(32);
            piped.Loss.Should().BeApproximately(replicated.Loss, 1e-4, $"iteration {i} trains the same pairs from the same state");
            piped.Margin.Should().BeApproximately(replicated.Margin, 1e-4);
        }
        foreach (var i in new[] { 2, 4 })
        {
            metrics[i].Preference!.HeldOutLoss.Should().BeApproximately(twinMetrics[i].Preference!.HeldOutLoss!.Value, 1e-4);
            metrics[i].HeldOutAccuracy.Should().NotBeNull();
        }
        metrics[^1].Preference!.HeldOutAccuracy.Should().BeGreaterThan(0.8);
        // Two replicas of two stages: four pipeline devices, each busy, and a bubble measured against 1F1B's (p - 1) / (m + p - 1).
        metrics.Skip(1).Should().OnlyContain(m => m.DeviceBusy.Keys.Count(k => k.Contains("/pp/d")) == 4 && m.DeviceBusy.Where(b => b.Key.Contains("/pp/d")).All(b => b.Value > 0)
            && m.PipelineBubble > 0 && m.PipelineBubbleExpected == 1.0 / 3);
    }

    [Fact]
    public async Task A_pipelined_dpo_job_whose_steps_have_fewer_pairs_than_micro_batches_is_refused()
    {
        var spec = Tiny("dpo-pipelined-small", iterations: 1, replicas: 2);
        spec = spec with { Rl = spec.Rl! with { MiniBatches = 4, Pipeline = new PipelineSpec { Stages = 2, MicroBatches = 8 } }, Dpo = spec.Dpo! with { PairsPerIteration = 30 } };

        var submit = () => fixture.Cluster.Client.GetGrain<IJobGrain>("dpo-pipelined-small").Submit(spec);

        await submit.Should().ThrowAsync<ArgumentException>().WithMessage(
            "job: rl.pipeline.microBatches: 2 replica(s) x 8 micro-batches exceed the 6 pairs of the smallest optimizer step (dpo.pairsPerIteration 30 over rl.miniBatches 4)");
    }

    [Fact]
    public async Task A_reference_named_in_the_job_file_is_the_one_the_log_probs_are_measured_against_and_a_missing_one_is_refused()
    {
        var grains = fixture.Cluster.Client;
        const string named = "models/dpo-named-reference.safetensors";
        using (var other = new Transformer(ModelCatalog.Config(RlSpec.DemoModel), HeadKind.LanguageModel, seed: 77))
        {
            await ModelCatalog.WriteAsync(Store, named, ModelCatalog.Serialize(other));
        }
        var spec = Tiny("dpo-named-reference", iterations: 1);

        var (status, metrics) = await RlJobTests.Run(grains, spec with { Dpo = spec.Dpo! with { Reference = named } });

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics[0].Preference!.HeldOutMargin.Should().NotBeInRange(-1e-3, 1e-3, "the warm-started policy is measured against another model, not against itself");
        using var reference = new Transformer(ModelCatalog.Config(RlSpec.DemoModel));
        ModelCatalog.Deserialize(reference, await ModelCatalog.ReadAsync(Store, named), named);
        using var buffer = new MemoryStream();
        await Store.ReadAsync(new JobKeys("dpo-named-reference").PreferenceReference, buffer);
        var kept = System.Text.Json.JsonDocument.Parse(buffer.ToArray()).RootElement;
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(RlSpec.DemoModel));
        var pairs = PreferenceFile.ReadFile(spec.Dpo!.Pairs);
        foreach (var k in new[] { 0, pairs.Count - 1 })
        {
            var prompt = encoding.Prompt(new TaskExample(pairs[k].Prompt, ""));
            var expected = PreferenceUpdate.SequenceLogProbs(reference, [(prompt, [.. encoding.Tokenizer.Encode(pairs[k].Chosen), encoding.Tokenizer.EosId])]);
            kept.GetProperty("Chosen")[k].GetSingle().Should().BeApproximately(expected[0], 1e-3f, $"pair {k}'s chosen response under the named reference");
        }

        var missing = () => grains.GetGrain<IJobGrain>("dpo-missing-reference").Submit(Tiny("dpo-missing-reference", 1) with { Dpo = spec.Dpo! with { Reference = "models/none.safetensors" } });
        await missing.Should().ThrowAsync<ArgumentException>().WithMessage("dpo.reference: 'models/none.safetensors' is not in the checkpoint store");
    }

    [Fact]
    public async Task A_resumed_dpo_job_reads_its_reference_back_and_trains_as_one_never_stopped()
    {
        var grains = fixture.Cluster.Client;
        var (whole, wholeMetrics) = await RlJobTests.Run(grains, Tiny("dpo-whole", iterations: 4));
        var stopped = Tiny("dpo-stopped", iterations: 2) with { Dpo = Tiny("dpo-whole", 1).Dpo };
        var (first, _) = await RlJobTests.Run(grains, stopped);
        // The local store writes an object's manifest last: its time says when the object was written.
        var manifest = Path.Combine(ClusterFixture.CheckpointDirectory, new JobKeys("dpo-stopped").PreferenceReference + ".manifest.json");
        var written = File.GetLastWriteTimeUtc(manifest);

        var (resumed, metrics) = await RlJobTests.Run(grains, stopped with { Iterations = 4 }, resume: true);

        (whole.State, first.State, resumed.State).Should().Be((JobState.Completed, JobState.Completed, JobState.Completed), resumed.Message);
        File.GetLastWriteTimeUtc(manifest).Should().Be(written, "the resumed run read the reference log-probs back");
        metrics.Select(m => m.Iteration).Should().Equal(3, 4);
        foreach (var i in new[] { 3, 4 })
        {
            metrics[i - 3].Preference!.Loss.Should().BeApproximately(wholeMetrics[i].Preference!.Loss, 1e-5, $"iteration {i} trains the same pairs from the same state");
            metrics[i - 3].Preference!.Margin.Should().BeApproximately(wholeMetrics[i].Preference!.Margin, 1e-5);
        }
        metrics[1].Preference!.HeldOutAccuracy.Should().Be(wholeMetrics[4].Preference!.HeldOutAccuracy);
    }

    [Fact]
    public async Task Pairs_made_of_an_rl_jobs_samples_are_each_groups_best_response_over_its_worst_and_train_a_dpo_job()
    {
        var grains = fixture.Cluster.Client;
        var source = RlJobTests.Tiny("pairs-source", iterations: 2);
        var (ran, _) = await RlJobTests.Run(grains, source with { Rl = source.Rl! with { Task = RlTask.Runlength, SftSteps = 0, MaxBatch = 8 } });
        var job = grains.GetGrain<IJobGrain>("pairs-source");
        var records = (await job.TrainedRecords(1)).Concat(await job.TrainedRecords(2)).ToArray();
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(RlSpec.DemoModel));

        var pairs = PairsFromSamples.Of(records, encoding).ToArray();

        ran.State.Should().Be(JobState.Completed, ran.Message);
        records.Should().HaveCount(2 * 16);
        // Independently: each group's responses rewarded again by the task's verifier, the first highest over the first lowest.
        var task = new RunLengthTask();
        var expected = records.GroupBy(r => (r.Start!.Iteration, r.Start.Group)).Select(g =>
        {
            var prompt = encoding.Tokenizer.Decode(g.First().Start!.Prompt.Skip(1));
            var rewarded = g.Select(r => (Text: encoding.Response(r.Generated!.Response), Reward: task.Reward(new TaskExample(prompt, r.Start!.Answer), encoding.Response(r.Generated.Response)))).ToArray();
            var (best, worst) = (rewarded.First(r => r.Reward == rewarded.Max(x => x.Reward)), rewarded.First(r => r.Reward == rewarded.Min(x => x.Reward)));
            return best.Reward > worst.Reward && best.Text != worst.Text ? new PreferencePair(prompt, best.Text, worst.Text) : null;
        }).OfType<PreferencePair>().ToArray();
        pairs.Should().NotBeEmpty().And.Equal(expected);
        // With every: each distinct response over each rewarded less, in the group.
        var everyExpected = records.GroupBy(r => (r.Start!.Iteration, r.Start.Group)).SelectMany(g =>
        {
            var prompt = encoding.Tokenizer.Decode(g.First().Start!.Prompt.Skip(1));
            var texts = g.Select(r => (Text: encoding.Response(r.Generated!.Response), Reward: task.Reward(new TaskExample(prompt, r.Start!.Answer), encoding.Response(r.Generated.Response))))
                .Where(t => t.Text.Length > 0).DistinctBy(t => t.Text).ToArray();
            return texts.SelectMany(c => texts.Where(r => r.Reward < c.Reward).Select(r => new PreferencePair(prompt, c.Text, r.Text)));
        }).ToArray();
        var every = PairsFromSamples.Of(records, encoding, every: true).ToArray();
        every.Should().Equal(everyExpected).And.Contain(pairs).And.HaveCountGreaterThan(pairs.Length);

        var path = Path.Combine(ClusterFixture.CheckpointDirectory, "pairs-made.pairs.jsonl");
        await using (var writer = new StreamWriter(path)) PreferenceFile.Write(writer, pairs);
        var dpo = Tiny("pairs-trained", iterations: 2) with { Dpo = new DpoSpec { Pairs = path, HeldOutPairs = 2, PairsPerIteration = 4 } };
        var (trained, metrics) = await RlJobTests.Run(grains, dpo with { Rl = dpo.Rl! with { Task = RlTask.Runlength, SftSteps = 0 } });
        trained.State.Should().Be(JobState.Completed, trained.Message);
        metrics[^1].Preference!.HeldOutAccuracy.Should().NotBeNull();
    }

    [Fact]
    public async Task A_pairs_file_with_a_missing_field_or_too_few_pairs_is_refused_at_submit_naming_the_line()
    {
        var grains = fixture.Cluster.Client;
        var path = Path.Combine(ClusterFixture.CheckpointDirectory, "dpo-bad-lines.pairs.jsonl");
        await File.WriteAllLinesAsync(path, ["{\"prompt\":\"1+1=\",\"chosen\":\"2\",\"rejected\":\"3\"}", "", "{\"prompt\":\"2+2=\",\"chosen\":\"4\"}"]);
        var bad = Tiny("dpo-bad", 1) with { Dpo = new DpoSpec { Pairs = path, HeldOutPairs = 1 } };

        var submit = () => grains.GetGrain<IJobGrain>("dpo-bad").Submit(bad);
        await submit.Should().ThrowAsync<InvalidDataException>().WithMessage($"{path}:3: \"rejected\" is missing or empty");

        await File.WriteAllLinesAsync(path, ["{\"prompt\":\"1+1=\",\"chosen\":\"2\",\"rejected\":\"3\"}"]);
        await submit.Should().ThrowAsync<InvalidDataException>().WithMessage($"{path}: 1 pairs leave none to train on after dpo.heldOutPairs (1)");
        (await grains.GetGrain<IJobGrain>("dpo-bad").Status()).State.Should().Be(JobState.NotSubmitted);
    }
}
