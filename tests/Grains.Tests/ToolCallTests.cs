using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Tools;

namespace Grains.Tests;

/// <summary>Tool calls as a generating sample makes them: on the tool's grain, bounded in time and size, every failure an answer the model sees.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ToolCallTests(ClusterFixture fixture)
{
    private static readonly ToolUse Use = new([ToolKind.Calc], MaxTurns: 4, TimeoutSeconds: 0.3, MaxResultCharacters: 30);

    /// <summary>The same use with time to spare: a busy 2-core machine may take seconds to activate the tool's grain, and these calls are not about time.</summary>
    private static readonly ToolUse Patient = Use with { TimeoutSeconds = 60 };
    private static readonly Kernels.Tokenizers.ITokenizer Tokenizer = ModelCatalog.Tokenizer(RlSpec.DemoModel);

    /// <summary>A tool as a service may behave: answers late, throws, or answers with a megabyte.</summary>
    private sealed class Service(Func<string, Task<string>> call) : IToolGrain
    {
        public Task<string> Call(string argument) => call(argument);
    }

    [Theory]
    [InlineData("so [calc 12+34]", "46", ToolOutcome.Answered)]
    [InlineData("[calc (7-2)*3]", "15", ToolOutcome.Answered)]
    [InlineData("[calc 1/0]", "error: division by zero", ToolOutcome.Failed)]
    [InlineData("[search item 4711]", "error: no tool search (tools: calc)", ToolOutcome.Failed)]
    [InlineData("[Calc 1]", "error: calc is not a tool name", ToolOutcome.Failed)]
    [InlineData("[calc 2^3]", "error:  is not arithmetic", ToolOutcome.Failed)]
    public async Task A_call_runs_on_the_tools_grain_and_a_bad_one_is_an_error_the_model_sees(string response, string text, ToolOutcome outcome)
    {
        var answer = await ToolCalls.Answer(fixture.Cluster.Client, "tool-job", response, Patient, Tokenizer);

        (answer.Text, answer.Outcome).Should().Be((text, outcome));
        answer.Seconds.Should().BeGreaterThanOrEqualTo(0);
    }

    [Fact]
    public async Task A_search_finds_the_catalog_document_of_the_item_and_a_missing_documents_file_is_an_error_the_model_sees()
    {
        var task = new Kernels.Tasks.LookupTask();
        var path = Path.Combine(ClusterFixture.CheckpointDirectory, "search-documents.jsonl");
        Directory.CreateDirectory(ClusterFixture.CheckpointDirectory);
        await using (var writer = new StreamWriter(path)) Kernels.Tools.DocumentSearch.WriteDocuments(writer, task.Documents());
        var use = new ToolUse([ToolKind.Search, ToolKind.Calc], MaxTurns: 4, TimeoutSeconds: 60, MaxResultCharacters: 32) { Documents = path };

        foreach (var item in new[] { 1000, 4711, 9999 })
        {
            var found = await ToolCalls.Answer(fixture.Cluster.Client, "search-job", $"look it up [search item {item}]", use, Tokenizer);
            (found.Text, found.Outcome).Should().Be((task.Document(item), ToolOutcome.Answered));
        }
        var missing = await ToolCalls.Answer(fixture.Cluster.Client, "search-job", "[search item 4711]", use with { Documents = path + ".gone" }, Tokenizer);
        missing.Outcome.Should().Be(ToolOutcome.Failed);
        missing.Text.Should().StartWith("error: documents file /", "the activation's error, as much as the result limit holds");
    }

    [Fact]
    public void Turn_rewards_sit_at_the_token_closing_each_call_that_did_not_answer()
    {
        // 3 tokens of the model's, a failed call's 2-token answer, 1 more token, an answered call's 2, then a timed-out one's.
        var turns = ToolTurns.None.Answered(3, 2, new ToolAnswer("error: x", ToolOutcome.Failed, 0.1))
            .Answered(1, 2, new ToolAnswer("46", ToolOutcome.Answered, 0.1))
            .Answered(2, 3, new ToolAnswer("error: late", ToolOutcome.TimedOut, 5));

        turns.Log.Should().Equal(new ToolCallLog(2, ToolOutcome.Failed), new ToolCallLog(5, ToolOutcome.Answered), new ToolCallLog(9, ToolOutcome.TimedOut));
        turns.TurnRewards(14, -0.25).Should().Equal(0, 0, -0.25f, 0, 0, 0, 0, 0, 0, -0.25f, 0, 0, 0, 0);
        turns.TurnRewards(14, 0).Should().BeNull("no turn reward is set");
        ToolTurns.None.Answered(3, 2, new ToolAnswer("46", ToolOutcome.Answered, 0.1)).TurnRewards(5, -0.25).Should().BeNull("no call failed");
    }

    [Fact]
    public async Task A_tool_that_hangs_throws_or_answers_a_megabyte_is_cut_off_with_its_outcome_named()
    {
        var hanging = new Service(_ => new TaskCompletionSource<string>().Task);
        var throwing = new Service(_ => throw new InvalidOperationException("Service Unavailable (503)"));
        var huge = new Service(_ => Task.FromResult(new string('1', 1_000_000)));
        var unreadable = new Service(_ => Task.FromResult("ÆØÅ"));

        var late = await ToolCalls.Answer(hanging, "x", Use, Tokenizer);
        var thrown = await ToolCalls.Answer(throwing, "x", Use, Tokenizer);
        var big = await ToolCalls.Answer(huge, "x", Use, Tokenizer);
        var foreign = await ToolCalls.Answer(unreadable, "x", Use, Tokenizer);

        (late.Text, late.Outcome).Should().Be(("error: no answer within 0.3 s", ToolOutcome.TimedOut));
        late.Seconds.Should().BeGreaterThan(0.2, "the call was waited for until its timeout: it never answers");
        (thrown.Text, thrown.Outcome).Should().Be(("error: service unavailable (50", ToolOutcome.Failed), "the message as the model can read it, cut to 30 characters");
        (big.Text, big.Outcome).Should().Be(("error: a result of 1000000 characters is over the limit of 30", ToolOutcome.CutOff));
        (foreign.Text, foreign.Outcome).Should().Be(("error: the result has characters the model cannot read", ToolOutcome.Failed));
    }
}
