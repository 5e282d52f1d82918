using Grains.Interfaces.Jobs;
using Orleans.Core.Internal;
using Grains.Models;
using Grains.Interfaces.Rl;
using Grains.Rl;
using Grains.Storage;
using Kernels.Model;
using Kernels.Tokenizers;
using static TorchSharp.torch;

namespace Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class SampleGrainTests(ClusterFixture fixture)
{
    private const string ReferenceObject = "tests/sample-grain/reference.safetensors";

    private static SampleStart Start(string job, int index)
    {
        var tokenizer = CharTokenizer.ForTasks();
        return new SampleStart(job, 1, index, "1/0", 0, [tokenizer.BosId, .. tokenizer.Encode("12+30=")], "42", 5, 4, 1.0,
            new ScoringModels(RlTask.Arithmetic, null, ReferenceObject, null, "demo", 1.0, 64), Run: 1);
    }

    private static GeneratedResponse Response(string answer)
    {
        var tokenizer = CharTokenizer.ForTasks();
        int[] tokens = [.. tokenizer.Encode(answer), tokenizer.EosId];
        return new GeneratedResponse(tokens, tokens.Select(_ => -0.5f).ToArray(), 0, "w", false);
    }

    private async Task<Transformer> PublishReference()
    {
        var model = new Transformer(ModelPresets.Demo, seed: 21);
        await ModelCatalog.WriteAsync(new LocalCheckpointStore(ClusterFixture.CheckpointDirectory, 1 << 20), ReferenceObject, ModelCatalog.Serialize(model));
        return model;
    }

    [Fact]
    public async Task A_discarded_sample_ignores_its_workers_late_answer_is_never_trained_and_counts_as_discarded_in_the_ledger()
    {
        var start = Start("sample-discarded", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);
        await sample.Create(start);
        await sample.Dispatched(start, "job/g0");

        var discarded = await sample.Discard("tail batching: its round had its groups first");

        discarded.Stage.Should().Be(SampleStage.Discarded);
        discarded.DiscardedFor.Should().Be("tail batching: its round had its groups first");
        (await sample.Discard("again")).DiscardedFor.Should().Be("tail batching: its round had its groups first", "a repeat changes nothing");
        (await sample.Generated(Response("42"))).Should().BeFalse("the worker's late answer is ignored");
        (await sample.Requeued()).Should().BeFalse();
        (await sample.Dispatched(start, "job/g1")).Should().BeFalse();
        var train = () => sample.Trained([1f, 1f, 1f], null);
        await train.Should().ThrowAsync<InvalidOperationException>().WithMessage("sample sample-discarded/1/0 was discarded (tail batching: its round had its groups first): no step trains on it");
        var ledger = StepLedger.Of([await sample.Record()]);
        (ledger.Created, ledger.Trained, ledger.Discarded, ledger.Lost).Should().Be((1, 0, 1, 0));
        ledger.DiscardedFor.Should().Equal(new Dictionary<string, int> { ["tail batching: its round had its groups first"] = 1 });
        var never = () => fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(SampleKeys.Of("sample-discarded", 1, 1)).Discard("x");
        await never.Should().ThrowAsync<InvalidOperationException>().WithMessage("sample sample-discarded/1/1 was never created: there is nothing to discard");
    }

    [Fact]
    public async Task A_sample_moves_through_its_stages_once_and_is_scored_by_the_verifier_and_the_reference()
    {
        using var reference = await PublishReference();
        var start = Start("sample-life", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);

        (await sample.Create(start)).Should().BeTrue();
        (await sample.Create(start)).Should().BeFalse("a repeated create changes nothing");
        (await sample.Dispatched(start, "job/g0")).Should().BeTrue();
        (await sample.Dispatched(start, "job/g0")).Should().BeFalse();
        (await sample.Generated(Response("42"))).Should().BeTrue();
        (await sample.Generated(Response("42"))).Should().BeFalse("a repeated report does not count twice");
        (await sample.Record()).Stage.Should().Be(SampleStage.Generated, "under the barrier policy scoring waits for the job");
        (await sample.Score()).Should().BeTrue();
        (await sample.Score()).Should().BeFalse();
        var trained = await sample.Trained([1f, 1f, 1f], null);
        trained.Stage.Should().Be(SampleStage.Trained);
        var repeated = await sample.Trained([2f, 2f, 2f], null);
        repeated.Advantages.Should().Equal(trained.Advantages!, "a repeat trains nothing");
        (trained.RefusedTrainings, repeated.RefusedTrainings).Should().Be((0, 1), "the repeat is refused and counted");
        StepLedger.Of([repeated]).RefusedTrainings.Should().Be(1, "the step's ledger counts refusals");

        var record = await sample.Record();
        record.Stage.Should().Be(SampleStage.Trained);
        record.Scores!.Reward.Should().Be(1.0);
        record.Worker.Should().Be("job/g0");
        record.Times.Trained.Should().BeOnOrAfter(record.Times.Scored!.Value).And.BeOnOrAfter(record.Times.Generated!.Value);
        // The reference's log-probs, computed here independently from the whole sequence.
        using var all = reference.NextTokenLogProbs(tensor(start.Prompt.Concat(record.Generated!.Response).Select(t => (long)t).ToArray()).unsqueeze(0));
        var expected = all[0].data<float>().Skip(start.Prompt.Length - 1).ToArray();
        record.Scores.RefLogProbs.Should().Equal(expected, (x, y) => Math.Abs(x - y) < 1e-5f);
    }

    [Fact]
    public async Task A_sample_dealt_at_its_steps_launch_is_created_by_its_dispatch_and_a_create_after_it_changes_nothing()
    {
        var start = Start("sample-dealt", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);

        (await sample.Dispatched(start, "job/g0")).Should().BeTrue();
        var record = await sample.Record();
        (record.Stage, record.Worker, record.Dispatches).Should().Be((SampleStage.Generating, "job/g0", 1));
        record.Start!.SameAs(start).Should().BeTrue();
        record.Times.Created.Should().NotBeNull();
        (await sample.Create(start)).Should().BeFalse("the launch's create, arriving after its dispatch, is a repeat");
        (await sample.Record()).Stage.Should().Be(SampleStage.Generating);
        await FluentActions.Awaiting(() => sample.Dispatched(start with { Prompt = [1, 2] }, "job/g1")).Should().ThrowAsync<InvalidOperationException>().WithMessage("sample sample-dealt/1/0 already exists with a different start");

        // A later run of the job (a resume) deals it afresh, whatever the earlier run left.
        await sample.Generated(Response("42"));
        var later = start with { Run = 2 };
        (await sample.Dispatched(later, "job/g1")).Should().BeTrue();
        record = await sample.Record();
        (record.Stage, record.Start!.Run, record.Worker, record.Generated).Should().Be((SampleStage.Generating, 2, "job/g1", null));
    }

    [Fact]
    public async Task Out_of_order_messages_are_refused_naming_the_stages()
    {
        var start = Start("sample-order", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);

        await FluentActions.Awaiting(() => sample.Dispatched(Start("another", 0), "g0")).Should().ThrowAsync<ArgumentException>().WithMessage("*was sent the start of*");
        await sample.Create(start);
        await FluentActions.Awaiting(() => sample.Generated(Response("42"))).Should().ThrowAsync<InvalidOperationException>().WithMessage("*cannot be generated while Created; it must be Generating");
        await FluentActions.Awaiting(() => sample.Create(start with { Prompt = [1, 2] })).Should().ThrowAsync<InvalidOperationException>().WithMessage("*different start*");
        await sample.Dispatched(start, "g0");
        await FluentActions.Awaiting(() => sample.Generated(Response("42") with { LogProbs = [0f] })).Should().ThrowAsync<ArgumentException>().WithMessage("*3 tokens, 1 log-probs*");
        (await sample.Requeued()).Should().BeTrue("a worker handed it back unfinished");
        (await sample.Dispatched(start, "g1")).Should().BeTrue();
        (await sample.Record()).Worker.Should().Be("g1");
        await FluentActions.Awaiting(() => sample.Trained([1f], null)).Should().ThrowAsync<InvalidOperationException>().WithMessage("*cannot be trained while Generating*");
        (await sample.Create(start with { Run = 2 })).Should().BeTrue("a resumed run starts the sample afresh");
        (await sample.Record()).Stage.Should().Be(SampleStage.Created);
        await FluentActions.Awaiting(() => sample.Create(start)).Should().ThrowAsync<InvalidOperationException>("an older run cannot take it back");
    }

    [Fact]
    public async Task A_warmed_sample_is_only_activated_and_is_created_afterwards_as_any_other()
    {
        var start = Start("sample-warmed", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);

        await sample.Warm();
        await sample.Warm();

        (await sample.Create(start)).Should().BeTrue("warming created nothing");
        (await sample.Record()).Stage.Should().Be(SampleStage.Created);
        await sample.Warm();
        (await sample.Record()).Should().Match<SampleRecord>(r => r.Stage == SampleStage.Created && r.Start!.SameAs(start), "warming a created sample changes nothing");
    }

    [Fact]
    public async Task A_record_lost_before_its_response_restarts_from_the_start_its_dispatch_or_restart_brings()
    {
        // Only work is in the ledger: a sample grain re-activated on another silo before its response came
        // is New, and the next message about it says what it was.
        var start = Start("sample-lost", 0);
        var dispatched = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);
        var restarted = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(Start("sample-lost", 1).Id);

        (await dispatched.Dispatched(start, "g0")).Should().BeTrue();
        (await restarted.Restart(Start("sample-lost", 1))).Should().Be(SampleStage.Created);

        var record = await dispatched.Record();
        record.Stage.Should().Be(SampleStage.Generating);
        record.Start!.SameAs(start).Should().BeTrue();
        (await restarted.Record()).Start!.Index.Should().Be(1);
        (await dispatched.Restart(start)).Should().Be(SampleStage.Created, "a restart takes a sample back from a lost worker");
        await dispatched.Dispatched(start, "g1");
        await dispatched.Generated(Response("42"));
        (await dispatched.Restart(start)).Should().Be(SampleStage.Generated, "a response in stays in");
    }

    [Fact]
    public async Task A_generated_sample_waits_for_the_jobs_policy_to_score_it()
    {
        using var reference = await PublishReference();
        var start = Start("sample-waits", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);
        await sample.Create(start);
        await sample.Dispatched(start, "g0");

        await sample.Generated(Response("41"));
        (await sample.Record()).Stage.Should().Be(SampleStage.Generated, "scoring is the stage policy's call");
        (await sample.Score()).Should().BeTrue();
        (await sample.Score()).Should().BeFalse("a repeated request changes nothing");

        var record = await sample.Record();
        record.Stage.Should().Be(SampleStage.Scored);
        record.Scores!.Reward.Should().Be(0.0, "41 is not 12+30");
    }

    [Fact]
    public async Task A_scored_sample_whose_activation_is_lost_scores_its_kept_response_again_when_trained()
    {
        // Scores are not in the ledger: a sample grain re-activated between its scoring and its training (its
        // silo lost, its directory entry lost with another silo) has its response only; training it scores
        // that response again, with the same numbers, instead of failing the step.
        using var reference = await PublishReference();
        var start = Start("sample-rescored", 0);
        var sample = fixture.Cluster.GrainFactory.GetGrain<ISampleGrain>(start.Id);
        await sample.Create(start);
        await sample.Dispatched(start, "g0");
        await sample.Generated(Response("42"));
        await sample.Score();
        var scored = (await sample.Record()).Scores!;

        await sample.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var reactivated = await sample.Record();
        reactivated.Stage.Should().Be(SampleStage.Generated, "the response is in the ledger, the scores are not");
        reactivated.Scores.Should().BeNull();

        var trained = await sample.Trained([1f, 1f, 1f], null);
        trained.Stage.Should().Be(SampleStage.Trained);
        trained.Scores!.Reward.Should().Be(scored.Reward).And.Be(1.0);
        trained.Scores.RefLogProbs.Should().Equal(scored.RefLogProbs);
    }
}
