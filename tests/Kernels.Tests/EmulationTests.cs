using Kernels.Emulation;

namespace Kernels.Tests;

public sealed class EmulationTests
{
    [Theory]
    [InlineData("llama-13b", 13.0e9)]
    [InlineData("llama-65b", 65.3e9)]
    [InlineData("qwen2.5-7b", 7.62e9)]
    [InlineData("qwen2.5-72b", 72.7e9)]
    public void Model_shapes_have_their_published_parameter_counts(string name, double parameters)
    {
        ModelShape.Parse(name).Parameters.Should().BeApproximately(parameters, parameters * 0.01);
    }

    [Fact]
    public void Kv_cache_bytes_per_token_follow_layers_and_key_value_heads()
    {
        ModelShape.Llama13B.KvBytesPerToken.Should().Be(2.0 * 40 * 40 * 128 * 2, "819,200 bytes: K and V, 40 layers, 40 heads of 128, bf16");
        ModelShape.Qwen25_7B.KvBytesPerToken.Should().Be(2.0 * 28 * 4 * 128 * 2, "grouped-query attention keeps 4 key/value heads");
    }

    [Fact]
    public void A_decoding_step_is_memory_bound_at_batch_one_and_compute_bound_at_large_batches()
    {
        var cost = new CostModel(DeviceClass.H100, ModelShape.Llama13B);
        var weights = ModelShape.Llama13B.WeightBytes;

        // Batch 1 at 100 tokens of context: read every weight and 100 tokens of cache once at 80% of 3.35 TB/s, plus 2 ms.
        var single = cost.DecodeStepSeconds([100]);
        single.Should().BeApproximately((weights + 100 * 819_200.0) / (3.35e12 * 0.8) + 0.002, 1e-9);

        // Batch 512 at context 1: 2 P per token at 50% of 989 TFLOP/s exceeds the weight read.
        var large = cost.DecodeStepSeconds(Enumerable.Repeat(1, 512).ToArray());
        var flops = 2 * ModelShape.Llama13B.MatmulParameters * 512 + 4 * 40 * 5120.0 * 512;
        large.Should().BeApproximately(flops / (989e12 * 0.5) + 0.002, 1e-9);
        (large / 512).Should().BeLessThan(single / 10, "batching amortises the weight reads");
        cost.DecodeStepSeconds([1, 1]).Should().BeApproximately(cost.DecodeStepSeconds([1]), 1e-6, "a second row is nearly free while memory-bound");
    }

    [Fact]
    public void Training_prefill_transfer_and_cache_capacity_follow_their_formulas()
    {
        var cost = new CostModel(DeviceClass.H800, ModelShape.Llama65B);
        var p = ModelShape.Llama65B.MatmulParameters;

        cost.TrainingSeconds([1000]).Should().BeApproximately((6 * p * 1000 + 6 * 80 * 8192.0 * 1000 * 1000) / (989e12 * 0.4), 1e-9);
        cost.PrefillSeconds([512, 512]).Should().BeApproximately(Math.Max((2 * p * 1024 + 2 * 80 * 8192.0 * 2 * 512 * 512) / (989e12 * 0.6), ModelShape.Llama65B.WeightBytes / (3.35e12 * 0.8)), 1e-9);
        cost.WeightTransferSeconds(Link.InfiniBand).Should().BeApproximately(5e-6 + ModelShape.Llama65B.WeightBytes / 50e9, 1e-9);
        cost.MaxCachedTokens().Should().Be(0, "130 GB of weights do not fit one 80 GB device");
        new CostModel(DeviceClass.H800, ModelShape.Llama65B, tensorParallel: 8).MaxCachedTokens()
            .Should().Be((long)((80e9 * 0.9 * 8 - ModelShape.Llama65B.WeightBytes) / ModelShape.Llama65B.KvBytesPerToken));
        new CostModel(DeviceClass.H20, ModelShape.Qwen25_7B).DecodeStepSeconds([1000])
            .Should().BeLessThan(new CostModel(DeviceClass.A100, ModelShape.Qwen25_7B).DecodeStepSeconds([1000]), "decoding follows bandwidth, where the H20 leads");
    }

    [Fact]
    public void A_pipeline_stages_passes_add_up_to_the_whole_models_training_and_its_activations_cross_the_link()
    {
        var cost = new CostModel(DeviceClass.H800, ModelShape.Llama65B, tensorParallel: 8);
        var shape = ModelShape.Llama65B;
        int[] sequences = [700, 1300, 512];
        var (tokens, squares) = (2512.0, 700.0 * 700 + 1300.0 * 1300 + 512.0 * 512);

        // 20 of the 80 layers, without and with the head: 2 P_layer l sum s + 2 l d sum s^2 (+ 2 V h sum s).
        var flops = 2 * shape.LayerParameters * 20 * tokens + 2 * 20 * 8192.0 * squares;
        cost.StageForwardSeconds(20, false, sequences).Should().BeApproximately(flops / (989e12 * 8 * 0.4), 1e-12);
        cost.StageForwardSeconds(20, true, sequences).Should().BeApproximately((flops + 2 * 32000.0 * 8192 * tokens) / (989e12 * 8 * 0.4), 1e-12);
        // Four stages' forwards and backwards (two forwards each) are the whole model's training.
        var stages = new[] { 27, 27, 26 }.Select((layers, s) => 3 * cost.StageForwardSeconds(layers, s == 2, sequences)).Sum();
        stages.Should().BeApproximately(cost.TrainingSeconds(sequences), cost.TrainingSeconds(sequences) * 1e-12);
        // bf16 activations, each of the 8 ranks its shard: 2 x 8192 x 2512 / 8 bytes.
        cost.ActivationTransferSeconds(tokens, Link.InfiniBand).Should().BeApproximately(5e-6 + 2 * 8192.0 * 2512 / 8 / 50e9, 1e-15);
        FluentActions.Invoking(() => cost.StageForwardSeconds(81, false, sequences)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*llama-65b has 80 layers*");
    }

    [Theory]
    [InlineData("chat", 2048)]
    [InlineData("reasoning", 20_000)]
    [InlineData("spoken", 5000)]
    public void Length_presets_have_a_long_tail_within_their_maximum(string preset, int max)
    {
        var distribution = LengthDistribution.Preset(preset);
        var random = new Random(7);
        var lengths = Enumerable.Range(0, 100_000).Select(_ => distribution.Sample(random)).Order().ToArray();

        var median = lengths[lengths.Length / 2];
        var p999 = lengths[(int)(0.999 * lengths.Length)];
        ((double)p999 / median).Should().BeGreaterThan(10, $"median {median}, p99.9 {p999}");
        lengths[^1].Should().BeLessThanOrEqualTo(max);
        lengths[0].Should().BeGreaterThanOrEqualTo(1);
        SampleFrom(distribution, 7, 100).Should().Equal(SampleFrom(distribution, 7, 100), "the same seed draws the same lengths")
            .And.NotEqual(SampleFrom(distribution, 8, 100));
    }

    [Fact]
    public void Spoken_answers_are_seconds_of_audio_at_the_tokenizers_rate()
    {
        // 41.7 tokens a second: the body's median (quantile 0.5 of its 95 %) is 10 s, the tail starts at 30 s, the cap is 2 minutes.
        LengthDistribution.Spoken.Quantile(0.5 * 0.95).Should().Be(417);
        LengthDistribution.Spoken.Quantile(0.95 + 1e-9).Should().Be(1250);
        LengthDistribution.Spoken.Quantile(1).Should().Be(5000);
    }

    [Fact]
    public void An_empirical_histogram_is_sampled_in_proportion_and_a_bad_line_is_named()
    {
        var histogram = EmpiricalLengths.Read(new StringReader("length,count\n10,1\n100,3\n\n1000,0\n"), "lengths.csv");
        var random = new Random(3);
        var draws = Enumerable.Range(0, 40_000).Select(_ => histogram.Sample(random)).ToArray();

        (draws.Count(d => d == 100) / (double)draws.Length).Should().BeApproximately(0.75, 0.01);
        draws.Should().OnlyContain(d => d == 10 || d == 100);
        histogram.Max.Should().Be(1000);
        FluentActions.Invoking(() => EmpiricalLengths.Read(new StringReader("10,1\n20,x\n"), "lengths.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("lengths.csv:2: expected \"length,count\"*\"20,x\"");
        FluentActions.Invoking(() => EmpiricalLengths.Read(new StringReader("10,0\n"), "lengths.csv"))
            .Should().Throw<InvalidDataException>().WithMessage("lengths.csv: no bins with a positive count");
    }

    [Fact]
    public void A_bin_without_count_is_never_drawn_even_at_its_boundaries()
    {
        var histogram = EmpiricalLengths.Read(new StringReader("10,5\n20,0\n30,5\n40,0\n"), "lengths.csv");

        // Running counts 5, 5, 10, 10 of 10: u = 0.5 is the boundary the empty bin 20 shares with 10.
        new[] { 0.0, 0.25, 0.4999 }.Select(histogram.Quantile).Should().OnlyContain(l => l == 10);
        new[] { 0.5, 0.75, 1.0 }.Select(histogram.Quantile).Should().OnlyContain(l => l == 30);
    }

    private static int[] SampleFrom(LengthDistribution distribution, int seed, int count)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => distribution.Sample(random)).ToArray();
    }
}

public sealed class EmulatedBatchTests
{
    private static readonly CostModel Cost = new(DeviceClass.H800, ModelShape.Qwen25_7B);

    [Fact]
    public void A_step_costs_the_prefill_of_new_prompts_and_one_decoding_step_of_all()
    {
        var batch = new EmulatedBatch(Cost, capacity: 4);
        batch.Add(new EmulatedSequence("a", 100, 2));
        batch.Add(new EmulatedSequence("b", 50, 1));

        var (first, finishedFirst) = batch.Step();
        var (second, finishedSecond) = batch.Step();

        first.Should().BeApproximately(Cost.PrefillSeconds([100, 50]) + Cost.DecodeStepSeconds([100, 50]), 1e-12);
        finishedFirst.Select(s => s.Id).Should().Equal(["b"]);
        second.Should().BeApproximately(Cost.DecodeStepSeconds([101]), 1e-12, "b left; a decodes with one more token of context");
        finishedSecond.Select(s => (s.Id, s.Generated)).Should().Equal([("a", 2)]);
        batch.Count.Should().Be(0);
    }

    [Fact]
    public void An_evicted_sequence_resumes_elsewhere_and_finishes_at_its_target()
    {
        var first = new EmulatedBatch(Cost, 2);
        first.Add(new EmulatedSequence("long", 10, 5));
        first.Step();
        first.Step();

        var moved = first.Evict("long");
        var second = new EmulatedBatch(Cost, 2);
        second.Add(moved);
        var steps = 1;
        var finished = second.Step().Finished;
        for (; finished.Count == 0; steps++) finished = second.Step().Finished;

        moved.Generated.Should().Be(2);
        steps.Should().Be(3, "2 of its 5 tokens came before the move");
        finished.Single().Generated.Should().Be(5);
        FluentActions.Invoking(() => first.Evict("long")).Should().Throw<ArgumentException>().WithMessage("*not running here*");
    }

    [Fact]
    public void A_sequence_that_brings_its_KV_cache_pays_its_transfer_instead_of_its_prefill()
    {
        var prefilled = new EmulatedBatch(Cost, 2);
        prefilled.Add(new EmulatedSequence("moved", 256, 3000, Generated: 1000));
        var carried = new EmulatedBatch(Cost, 2, Link.InfiniBand);
        carried.Add(new EmulatedSequence("moved", 256, 3000, Generated: 1000, CacheCarried: true));

        var again = prefilled.Step().Seconds;
        var sent = carried.Step().Seconds;

        // Qwen2.5-7B keeps 2 (K, V) x 28 layers x 4 KV heads x 128 x 2 bytes = 57,344 bytes a token; 1,256 of them over 50 GB/s after 5 us.
        var transfer = 5e-6 + 57_344.0 * 1256 / 50e9;
        sent.Should().BeApproximately(transfer + Cost.DecodeStepSeconds([1256]), 1e-12);
        again.Should().BeApproximately(Cost.PrefillSeconds([1256]) + Cost.DecodeStepSeconds([1256]), 1e-12);
        sent.Should().BeLessThan(again);
        carried.Step().Seconds.Should().BeApproximately(Cost.DecodeStepSeconds([1257]), 1e-12, "the cache arrived once");
        FluentActions.Invoking(() => prefilled.Add(new EmulatedSequence("other", 256, 3000, 10, CacheCarried: true)))
            .Should().Throw<ArgumentException>().WithMessage("*no link*");
    }

    [Fact]
    public void A_sequence_resumed_on_its_kept_cache_pays_neither_prefill_nor_transfer()
    {
        var batch = new EmulatedBatch(Cost, 2);
        batch.Add(new EmulatedSequence("resumed", 256, 3000, Generated: 1000, CacheKept: true));
        batch.Add(new EmulatedSequence("new", 100, 3000));

        // Only the new prompt is prefilled; both decode.
        batch.Step().Seconds.Should().BeApproximately(Cost.PrefillSeconds([100]) + Cost.DecodeStepSeconds([1256, 100]), 1e-12);
        batch.HoldsCache("resumed").Should().BeTrue();
        var evicted = batch.Evict("resumed");
        evicted.Generated.Should().Be(1001);
        evicted.CacheKept.Should().BeFalse("once running, its cache is this batch's like any other's");
        batch.Add(evicted);
        batch.HoldsCache("resumed").Should().BeFalse("admitted without saying it was kept, it waits to be prefilled");
        batch.Step().Seconds.Should().BeApproximately(Cost.PrefillSeconds([1257]) + Cost.DecodeStepSeconds([101, 1257]), 1e-12);
    }

    [Fact]
    public void A_cache_travels_where_the_link_sends_it_sooner_than_its_context_is_prefilled()
    {
        var infiniband = new CacheTransfer(Link.InfiniBand);
        var slow = new CacheTransfer(new Link("slow", 1e8, 0.01));

        infiniband.Carries(Cost, 16_000).Should().BeTrue("0.9 GB at 50 GB/s (18 ms) against a prefill of 16,000 tokens (0.47 s)");
        Cost.PrefillSeconds([16_000]).Should().BeApproximately(0.468, 0.001);
        slow.Carries(Cost, 16_000).Should().BeFalse("9 s at 100 MB/s");
        (slow with { Always = true }).Carries(Cost, 16_000).Should().BeTrue();
        Cost.CacheTransferSeconds([16_000], slow.Link).Should().BeApproximately(0.01 + 57_344.0 * 16_000 / 1e8, 1e-9);
    }

    [Fact]
    public void The_sequences_as_they_stand_are_read_without_taking_them_out()
    {
        var batch = new EmulatedBatch(Cost, 2);
        batch.Add(new EmulatedSequence("a", 10, 5));
        batch.Step();
        batch.Add(new EmulatedSequence("b", 10, 5));
        batch.Step();

        batch.Sequences.Select(s => (s.Id, s.Generated)).Should().BeEquivalentTo([("a", 2), ("b", 1)]);
        batch.Count.Should().Be(2, "reading takes nothing out");
        batch.Step();
        batch.Sequences.Select(s => s.Generated).Should().BeEquivalentTo([3, 2]);
    }

    [Fact]
    public void The_simulated_generation_of_a_long_tail_is_bound_by_its_longest_sample()
    {
        var sequences = Enumerable.Range(0, 63).Select(i => new EmulatedSequence($"s{i}", 200, 100)).Append(new EmulatedSequence("tail", 200, 2000)).ToArray();

        var (seconds, finishedAt) = EmulatedBatch.Simulate(Cost, capacity: 64, sequences);

        finishedAt.Should().HaveCount(64);
        finishedAt["tail"].Should().Be(seconds);
        finishedAt["s0"].Should().BeLessThan(seconds / 10, "the tail decodes alone for 1,900 steps");
        var alone = EmulatedBatch.Simulate(Cost, 64, [new EmulatedSequence("tail", 200, 2000)]).Seconds;
        seconds.Should().BeGreaterThan(alone).And.BeLessThan(alone * 1.2, "the other 63 add little: decoding is memory-bound");
        FluentActions.Invoking(() => new EmulatedBatch(Cost, 1).Add(new EmulatedSequence("x", 1, 0))).Should().Throw<ArgumentException>();
    }
}

public sealed class BarrierIterationTests
{
    [Fact]
    public void A_barrier_iteration_is_the_sum_of_its_stages_each_bound_by_its_slowest_device()
    {
        var actor = new CostModel(DeviceClass.H800, ModelShape.Qwen25_7B);
        var samples = new[] { (100, 50), (100, 400), (80, 60), (120, 30) };
        // One optimizer step with two replicas: samples 0 and 2 on the first, 1 and 3 on the second.
        var workload = new EmulatedWorkload(samples, actor, GenerationWorkers: 2, WorkerCapacity: 8, [actor], InferenceDevices: 2,
            actor, CriticTraining: null, [[[0, 2], [1, 3]]], Link.InfiniBand);

        var times = BarrierIteration.Predict(workload);

        // Worker 0 holds samples 0 and 2, worker 1 samples 1 and 3; worker 1 has the 400-token tail.
        var worker1 = EmulatedBatch.Simulate(actor, 8, [new EmulatedSequence("s1", 100, 400), new EmulatedSequence("s3", 120, 30)]).Seconds;
        times.Generation.Should().Be(worker1);
        times.Scoring.Should().BeApproximately(Math.Max(actor.ForwardSeconds([150, 140]), actor.ForwardSeconds([500, 150])), 1e-12);
        times.Training.Should().BeApproximately(Math.Max(actor.TrainingSeconds([150, 140]), actor.TrainingSeconds([500, 150])), 1e-12);
        times.WeightTransfer.Should().BeApproximately(actor.WeightTransferSeconds(Link.InfiniBand), 1e-12);
        times.Total.Should().BeApproximately(times.Generation + times.Scoring + times.Training + times.WeightTransfer, 1e-12);

        var critic = new CostModel(DeviceClass.H800, ModelShape.Qwen25_32B);
        var withCritic = BarrierIteration.Predict(workload with { Scoring = [actor, critic], CriticTraining = critic });
        withCritic.Scoring.Should().BeApproximately(times.Scoring + Math.Max(critic.ForwardSeconds([150, 140]), critic.ForwardSeconds([500, 150])), 1e-12,
            "the critic's values are a second forward, of the critic's shape");
        withCritic.Training.Should().BeGreaterThan(times.Training, "the 32B critic trains longer than the 7B actor, side by side");
        var twoSteps = BarrierIteration.Predict(workload with { TrainingSteps = [[[0], [1]], [[2], [3]]] });
        twoSteps.Training.Should().BeApproximately(actor.TrainingSeconds([500]) + actor.TrainingSeconds([150]), 1e-12,
            "each step waits for its slowest replica: sample 1, then sample 3");
        FluentActions.Invoking(() => BarrierIteration.Predict(workload with { GenerationWorkers = 0 })).Should().Throw<ArgumentException>();
    }
}

public sealed class IdealBoundTests
{
    private static readonly CostModel Actor = new(DeviceClass.H800, ModelShape.Qwen25_7B);

    // The workload's token-weighted mean context: 100 x 10 + 0 + ... + 9 and 100 x 50 + 0 + ... + 49 over its 60
    // response tokens (121.17; the plain mean prompt + half the mean response, 115, undercounts the longer
    // response's reads).
    private const double Context = (100 * 10 + 45 + 100 * 50 + 1225) / 60.0;

    // Two samples of 100-token prompts, 10 and 50 tokens of response, on one worker, one scorer and one trainer.
    private static readonly EmulatedWorkload Workload = new([(100, 10), (100, 50)], Actor, GenerationWorkers: 1, WorkerCapacity: 4, [Actor],
        InferenceDevices: 1, Actor, CriticTraining: null, [[[0, 1]]], Link.InfiniBand);

    [Fact]
    public void The_critical_path_is_the_longest_samples_own_prefill_decoding_scoring_training_and_weight_transfer()
    {
        var decoding = Enumerable.Range(0, 50).Sum(t => Actor.DecodeStepSeconds([100 + t]));
        var expected = Actor.PrefillSeconds([100]) + decoding + Actor.ForwardSeconds([150]) + Actor.TrainingSeconds([150]) + Actor.WeightTransferSeconds(Link.InfiniBand);

        IdealBound.For(Workload).CriticalPath.Should().BeApproximately(expected, 1e-12);
    }

    [Fact]
    public void Each_pool_does_its_stage_and_a_synchronous_step_waits_for_generation_then_training()
    {
        // Two samples in flight fill two of the worker's four rows; each token at its share of a two-row step
        // whose rows hold the token-weighted mean context. One device per pool.
        var perToken = Actor.DecodeStepSeconds(2, 2 * Context) / 2;
        var generation = Actor.PrefillSeconds([100, 100]) + 60 * perToken;
        var (scoring, training) = (Actor.ForwardSeconds([110, 150]), Actor.TrainingSeconds([110, 150]));

        var bound = IdealBound.For(Workload);

        bound.Generation.Should().BeApproximately(generation, 1e-12);
        bound.Scoring.Should().BeApproximately(scoring, 1e-12);
        bound.Training.Should().BeApproximately(training, 1e-12);
        bound.Work.Should().BeApproximately(Math.Max(generation, scoring) + training, 1e-12);
        bound.Seconds.Should().Be(Math.Max(bound.Work, bound.CriticalPath));
        var eight = IdealBound.For(Workload with { GenerationWorkers = 2, Generation = new CostModel(DeviceClass.H800, ModelShape.Qwen25_7B, tensorParallel: 8) });
        eight.Generation.Should().BeLessThan(generation, "sixteen devices share the decoding, at one row each");
        // Colocated on three devices: each stage in turn over all three.
        var hybrid = IdealBound.For(Workload with { Colocated = new RoleSwitch(DeviceClass.H800, ModelShape.Qwen25_7B, null, null, 1, 3) });
        hybrid.Work.Should().BeApproximately((generation + scoring + training) / 3, 1e-12);
    }

    [Fact]
    public void With_staleness_more_samples_fill_a_worker_the_pools_overlap_and_k_plus_one_steps_share_the_critical_path()
    {
        // k = 1: two steps' samples in flight, four rows of the worker's four, at the token-weighted context.
        var perToken = Actor.DecodeStepSeconds(4, 4 * Context) / 4;
        var generation = Actor.PrefillSeconds([100, 100]) + 60 * perToken;

        var bound = IdealBound.For(Workload, staleness: 1);

        bound.Generation.Should().BeApproximately(generation, 1e-12);
        bound.Work.Should().Be(Math.Max(bound.Generation, Math.Max(bound.Scoring, bound.Training)));
        bound.Seconds.Should().Be(Math.Max(bound.Work, bound.CriticalPath / 2));
        IdealBound.For(Workload, staleness: 8).Generation.Should().BeApproximately(generation, 1e-12, "the worker's capacity caps the batch");
        FluentActions.Invoking(() => IdealBound.For(Workload, -1)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void A_long_tail_instance_of_more_devices_shortens_the_critical_path_and_counts_its_devices_in_the_pool()
    {
        var four = new CostModel(DeviceClass.H800, ModelShape.Qwen25_7B, tensorParallel: 4);
        var workload = Workload with { GenerationWorkers = 2, LongTail = new LongTailInstances(four, 1) };
        var decoding = Enumerable.Range(0, 50).Sum(t => four.DecodeStepSeconds([100 + t]));
        var path = four.PrefillSeconds([100]) + decoding + Actor.ForwardSeconds([150]) + Actor.TrainingSeconds([150]) + Actor.WeightTransferSeconds(Link.InfiniBand);

        var bound = IdealBound.For(workload);

        workload.GenerationDevices.Should().Be(5, "one regular worker of one device and one long-tail instance of four");
        workload.Devices.Should().Be(7);
        bound.CriticalPath.Should().BeApproximately(path, 1e-12);
        bound.CriticalPath.Should().BeLessThan(IdealBound.For(Workload).CriticalPath);
        // The pool's work at a regular worker's cost per token, over its five devices (a sample in flight per worker).
        bound.Generation.Should().BeApproximately((Actor.PrefillSeconds([100, 100]) + 60 * Actor.DecodeStepSeconds(1, Context)) / 5, 1e-12);
    }

    [Fact]
    public void Decoupled_ppo_on_stale_samples_adds_the_actors_forward_over_the_rows_after_the_first_optimizer_step()
    {
        // Two optimizer steps of one row each: the second row's proximal log-probs are a forward of its 110 tokens.
        var twoSteps = Workload with { TrainingSteps = [[[1]], [[0]]] };
        var plain = IdealBound.For(twoSteps, staleness: 1);

        var decoupled = IdealBound.For(twoSteps with { ProximalForward = true }, staleness: 1);

        plain.Training.Should().BeApproximately(Actor.TrainingSeconds([110, 150]), 1e-12);
        decoupled.Training.Should().BeApproximately(Actor.TrainingSeconds([110, 150]) + Actor.ForwardSeconds([110]), 1e-12);
        decoupled.Generation.Should().Be(plain.Generation);
        IdealBound.For(Workload with { ProximalForward = true }, staleness: 1).Training.Should().Be(IdealBound.For(Workload, staleness: 1).Training,
            "one optimizer step: its rows take their proximal log-probs from its own forward");
    }

    [Fact]
    public void No_barrier_iteration_beats_the_bound()
    {
        var samples = Enumerable.Range(0, 64).Select(k => (200, 20 + k * k % 997)).ToArray();
        var workload = Workload with { Samples = samples, GenerationWorkers = 4, InferenceDevices = 2, TrainingSteps = [[Enumerable.Range(0, 32).ToArray(), Enumerable.Range(32, 32).ToArray()]] };

        IdealBound.For(workload).Seconds.Should().BeLessThan(BarrierIteration.Predict(workload).Total);
    }
}
