using Kernels.Generation;
using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class GenerationTests
{
    private static readonly ModelConfig Config = TinyModels.Config;

    private static GenerationRequest Request(string id, int[] prompt, int maxNew = 12, long seed = 1, double temperature = 1.0, int topK = 0, double topP = 1.0, int[]? stop = null) =>
        new(id, prompt, new SamplingParams(maxNew, temperature, topK, topP, seed, stop));

    [Fact]
    public void Recorded_log_probs_equal_a_full_forward_over_the_finished_sequence()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(Config, seed: 7);
        var requests = new[] { Request("a", [1, 2, 3], seed: 1, temperature: 0.8), Request("b", [4, 5, 6, 7, 8, 9], seed: 2, temperature: 0.8, topK: 5) };

        var done = ContinuousBatch.Generate(model, requests, capacity: 2, maxLength: 40);

        foreach (var c in done)
        {
            var sequence = tensor(c.Prompt.Concat(c.Response).Select(t => (long)t).ToArray()).unsqueeze(0);
            var full = model.NextTokenLogProbs(sequence, temperature: 0.8).squeeze(0).narrow(0, c.Prompt.Length - 1, c.Response.Length);
            var recorded = tensor(c.LogProbs);
            (full - recorded).abs().max().item<float>().Should().BeLessThan(1e-5f, c.Id);
        }
    }

    [Fact]
    public void Same_seed_same_tokens_whatever_the_batch_and_different_seeds_differ()
    {
        using var model = new Transformer(Config, seed: 7);
        var alone = ContinuousBatch.Generate(model, [Request("x", [3, 1, 4], seed: 10)], 1, 40).Single();
        var crowded = ContinuousBatch.Generate(model,
            [Request("p", [2, 7, 1, 8, 2, 8], seed: 3), Request("x", [3, 1, 4], seed: 10), Request("q", [5], seed: 4)], 2, 40)[1];
        var otherSeed = ContinuousBatch.Generate(model, [Request("x", [3, 1, 4], seed: 11)], 1, 40).Single();

        crowded.Response.Should().Equal(alone.Response);
        otherSeed.Response.Should().NotEqual(alone.Response);
    }

    [Fact]
    public void Greedy_picks_the_argmax_and_top_k_1_equals_greedy()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(Config, seed: 8);
        var greedy = ContinuousBatch.Generate(model, [Request("g", [1, 2], maxNew: 6, temperature: 0)], 1, 20).Single();
        var topOne = ContinuousBatch.Generate(model, [Request("k", [1, 2], maxNew: 6, seed: 99, topK: 1)], 1, 20).Single();

        var sequence = tensor(new long[] { 1, 2 }.Concat(greedy.Response.Select(t => (long)t)).ToArray()).unsqueeze(0);
        var argmax = model.Forward(sequence).argmax(-1).squeeze(0).narrow(0, 1, 6).data<long>().ToArray();
        greedy.Response.Select(t => (long)t).Should().Equal(argmax);
        topOne.Response.Should().Equal(greedy.Response);
    }

    [Fact]
    public void Top_p_keeps_the_smallest_set_reaching_p()
    {
        using var scope = NewDisposeScope();
        // Probabilities 0.5, 0.3, 0.15, 0.05: top-p 0.7 keeps the first two; every draw must land on them.
        var logits = log(tensor(new[] { 0.15f, 0.5f, 0.05f, 0.3f })).unsqueeze(0);
        var tokens = Enumerable.Range(0, 200)
            .Select(step => TokenSampler.Sample(logits, [(new SamplingParams(1, TopP: 0.7, Seed: 5), step)])[0].Token).ToList();

        tokens.Distinct().Should().BeEquivalentTo([1, 3]);
        tokens.Count(t => t == 1).Should().BeInRange(100, 150, "0.5 / 0.8 = 62.5% of 200 draws");
    }

    [Fact]
    public void Stop_tokens_and_token_limits_end_each_sequence_on_its_own()
    {
        using var model = new Transformer(Config, seed: 7);
        var free = ContinuousBatch.Generate(model, [Request("free", [1, 2, 3], maxNew: 30, seed: 5)], 1, 64).Single();
        var stopAt = free.Response[4];
        var firstStop = Array.IndexOf(free.Response, stopAt);

        var results = ContinuousBatch.Generate(model,
            [Request("stop", [1, 2, 3], maxNew: 30, seed: 5, stop: [stopAt]), Request("short", [9, 9], maxNew: 3, seed: 6)], 2, 64);

        results[0].Response.Should().Equal(free.Response.Take(firstStop + 1));
        results[0].Reason.Should().Be(FinishReason.Stop);
        results[1].Response.Should().HaveCount(3);
        results[1].Reason.Should().Be(FinishReason.Length);
    }

    [Fact]
    public void A_freed_slot_admits_a_new_sequence_without_disturbing_the_others()
    {
        using var model = new Transformer(Config, seed: 7);
        using var batch = new ContinuousBatch(model, capacity: 2, maxLength: 48);
        batch.Add(Request("long", [1, 2, 3], maxNew: 20, seed: 1));
        batch.Add(Request("short", [4], maxNew: 2, seed: 2));
        var finished = new List<CompletedSequence>();
        finished.AddRange(batch.Step());
        finished.AddRange(batch.Step());
        finished.Select(f => f.Id).Should().Equal("short");
        batch.FreeSlots.Should().Be(1);
        batch.Add(Request("late", [5, 6], maxNew: 4, seed: 3));
        while (batch.Count > 0) finished.AddRange(batch.Step());

        var expected = ContinuousBatch.Generate(model, [Request("long", [1, 2, 3], maxNew: 20, seed: 1), Request("late", [5, 6], maxNew: 4, seed: 3)], 1, 48);
        finished.Single(f => f.Id == "long").Response.Should().Equal(expected[0].Response);
        finished.Single(f => f.Id == "late").Response.Should().Equal(expected[1].Response);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void An_evicted_sequence_resumes_elsewhere_with_the_same_result(bool withKvCache)
    {
        using var model = new Transformer(Config, seed: 7);
        var request = Request("moving", [1, 2, 3, 4], maxNew: 16, seed: 21, topP: 0.9);
        var unmoved = ContinuousBatch.Generate(model, [request], 1, 48).Single();

        using var first = new ContinuousBatch(model, 3, 48);
        first.Add(Request("neighbour", [7, 7], maxNew: 30, seed: 1));
        first.Add(request);
        for (var i = 0; i < 6; i++) first.Step();
        var snapshot = first.Evict("moving", withKvCache);
        snapshot.Response.Should().HaveCount(6);
        (snapshot.KvCache is not null).Should().Be(withKvCache);

        using var second = new ContinuousBatch(model, 2, 48);
        second.Add(Request("other", [3, 3, 3, 3, 3], maxNew: 30, seed: 2));
        second.Resume(snapshot);
        var resumed = Enumerable.Range(0, 20).SelectMany(_ => second.Step()).Single(c => c.Id == "moving");

        resumed.Response.Should().Equal(unmoved.Response);
        resumed.LogProbs.Zip(unmoved.LogProbs, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void A_turn_ended_by_a_tool_call_leaves_with_its_cache_and_goes_on_after_the_answer_as_a_prefill_would()
    {
        using var model = new Transformer(Config, seed: 7);
        var plain = Request("agent", [1, 2, 3, 4], maxNew: 16, seed: 21);
        var sampled = ContinuousBatch.Generate(model, [plain], 1, 48).Single().Response;
        // The call token: the first token sampled the first time at the response's fourth place or later.
        var at = Enumerable.Range(3, sampled.Length - 4).First(k => !sampled[..k].Contains(sampled[k]));
        var calling = plain with { Sampling = plain.Sampling with { CallToken = sampled[at] } };

        using var first = new ContinuousBatch(model, 2, 48);
        first.Add(Request("neighbour", [7, 7], maxNew: 30, seed: 1));
        first.Add(calling);
        var turn = Enumerable.Range(0, 20).SelectMany(_ => first.Step()).First(c => c.Id == "agent");
        turn.Reason.Should().Be(FinishReason.ToolCall);
        turn.Response.Should().Equal(sampled[..(at + 1)], "the turn is what was sampled up to and with the call");
        turn.KvCache.Should().NotBeNull();
        first.RunningIds.Should().Equal(["neighbour"], "the calling sequence left its slot");

        // The tool's answer appended (its log-probs are not the model's), then on with the cache and with none.
        int[] answer = [9, 10, 11];
        var response = turn.Response.Concat(answer).ToArray();
        var logProbs = turn.LogProbs.Concat(new float[answer.Length]).ToArray();
        var resumed = new[] { turn.KvCache, null }.Select(cache =>
        {
            using var batch = new ContinuousBatch(model, 2, 48);
            batch.Add(Request("other", [3, 3, 3], maxNew: 30, seed: 2));
            batch.Resume(new SequenceSnapshot(plain, response, logProbs, cache));
            return Enumerable.Range(0, 30).SelectMany(_ => batch.Step()).Single(c => c.Id == "agent");
        }).ToArray();

        resumed[0].Reason.Should().NotBe(FinishReason.ToolCall, "the request going on has no call token");
        resumed[0].Response.Should().StartWith(response).And.Equal(resumed[1].Response);
        resumed[0].LogProbs.Zip(resumed[1].LogProbs, (a, b) => Math.Abs(a - b)).Max().Should().BeLessThan(1e-5f);
        FluentActions.Invoking(() => new ContinuousBatch(model, 1, 48).Resume(new SequenceSnapshot(plain, turn.Response[..^2], turn.LogProbs[..^2], turn.KvCache)))
            .Should().Throw<ArgumentException>().WithMessage("*cache entries for * positions, more than the * before its last token");
    }

    [Fact]
    public void Progress_is_a_checkpoint_of_tokens_so_far_that_leaves_the_batch_running_and_resumes_to_the_same_result()
    {
        using var model = new Transformer(Config, seed: 7);
        var request = Request("checkpointed", [1, 2, 3, 4], maxNew: 16, seed: 21, topP: 0.9);
        var unmoved = ContinuousBatch.Generate(model, [request], 1, 48).Single();

        using var first = new ContinuousBatch(model, 2, 48);
        first.Add(request);
        for (var i = 0; i < 5; i++) first.Step();
        var progress = first.Progress().Single();
        progress.Response.Should().HaveCount(5).And.Equal(unmoved.Response.Take(5));
        progress.LogProbs.Should().HaveCount(5);
        first.Count.Should().Be(1, "a checkpoint takes nothing out");
        var finished = Enumerable.Range(0, 20).SelectMany(_ => first.Step()).Single();
        finished.Response.Should().Equal(unmoved.Response, "the batch went on as if never asked");

        using var second = new ContinuousBatch(model, 1, 48);
        second.Resume(progress);
        var resumed = Enumerable.Range(0, 20).SelectMany(_ => second.Step()).Single();
        resumed.Response.Should().Equal(unmoved.Response, "a batch lost after the checkpoint goes on from it elsewhere");
    }

    [Fact]
    public void Bad_requests_are_refused_with_the_reason()
    {
        using var model = new Transformer(Config, seed: 7);
        using var batch = new ContinuousBatch(model, 1, 16);

        FluentActions.Invoking(() => batch.Add(Request("v", [1, 99]))).Should().Throw<ArgumentException>().WithMessage("*'v'*outside the vocabulary*");
        FluentActions.Invoking(() => batch.Add(Request("l", Enumerable.Repeat(1, 16).ToArray()))).Should().Throw<ArgumentException>().WithMessage("*'l'*no room*");
        FluentActions.Invoking(() => batch.Add(Request("t", [1], topP: 0))).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*TopP*");
        batch.Add(Request("ok", [1]));
        FluentActions.Invoking(() => batch.Add(Request("full", [1]))).Should().Throw<InvalidOperationException>().WithMessage("*no free slot*");
        FluentActions.Invoking(() => batch.Evict("nobody")).Should().Throw<ArgumentException>().WithMessage("*'nobody'*");
    }
}
