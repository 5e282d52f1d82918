using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Models;
using Kernels.Tasks;
using Kernels.Tools;

namespace Grains.Tests;

/// <summary>An RL job whose responses call the calculator mid-generation (rl.tools), warm-started on demonstrations of calls.</summary>
[Collection(ClusterCollection.Name)]
public sealed class ToolJobTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Responses_call_the_calculator_mid_generation_its_answers_are_masked_and_the_final_answer_is_rewarded()
    {
        var grains = fixture.Cluster.Client;
        var path = Path.Combine(ClusterFixture.CheckpointDirectory, "tool-demonstrations.jsonl");
        Directory.CreateDirectory(ClusterFixture.CheckpointDirectory);
        var examples = TaskDataset.Generate(new ArithmeticTask(), 128, seed: 3).Select(e => e with { Demonstration = $"[calc {e.Prompt[..^1]}]<{e.Answer}>{e.Answer}" });
        await using (var writer = new StreamWriter(path)) TaskDataset.Write(writer, examples);
        var tiny = RlJobTests.Tiny("tools-job", iterations: 2);
        var spec = tiny with { Rl = tiny.Rl! with { Dataset = path, SftSteps = 150, SftLearningRate = 1e-3, Tools = new ToolsSpec { ResponseTokens = 32, FailedCallReward = -0.2, TimeoutSeconds = 60 } } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var job = grains.GetGrain<IJobGrain>("tools-job");
        var records = (await job.TrainedRecords(1)).Concat(await job.TrainedRecords(2)).ToArray();
        var tokenizer = ModelCatalog.Tokenizer(RlSpec.DemoModel);
        var called = records.Where(r => r.Generated!.Turns!.Calls > 0).ToArray();
        called.Should().NotBeEmpty("the warm start demonstrated calls");
        foreach (var r in called)
        {
            var text = tokenizer.Decode(r.Generated!.Response.TakeWhile(t => t != tokenizer.EosId));
            var turns = r.Generated.Turns!;
            // Calls wait up to a minute (a busy 2-core machine may be slow to activate the tool grain): none times out.
            // Independently: after each call's ']', the calculator's own answer (or the error it gives) between '<' and '>'; those characters, and only they, masked.
            var masked = new bool[r.Generated.Response.Length];
            var (at, calls) = (0, 0);
            var log = new List<ToolCallLog>();
            while (calls < turns.Calls && text.IndexOf(']', at) is var close and >= 0)
            {
                var (call, error) = ToolSyntax.Parse(text[..(close + 1)]);
                var answer = call is null ? error! : call.Tool == "calc" ? Calculator.Evaluate(call.Argument) : $"error: no tool {call.Tool} (tools: calc)";
                var expected = ToolSyntax.Answer(Grains.Tools.ToolCalls.Readable(answer, int.MaxValue, tokenizer));
                var written = text.Substring(close + 1, Math.Min(expected.Length, text.Length - close - 1));
                written.Should().Be(expected[..written.Length], $"sample {r.Start!.Id}: call {calls + 1} of {text}");
                for (var k = 0; k < written.Length; k++) masked[close + 1 + k] = true;
                // One token a character: the call's turn ends at its ']'.
                log.Add(new ToolCallLog(close, expected.StartsWith("<error") ? ToolOutcome.Failed : ToolOutcome.Answered));
                (at, calls) = (close + 1 + written.Length, calls + 1);
            }
            calls.Should().Be(turns.Calls);
            turns.Log.Should().Equal(log, $"sample {r.Start!.Id}: {text}");
            turns.ToolTokens.Should().Equal(masked, $"sample {r.Start!.Id}: {text}");
            r.Generated.LogProbs.Where((_, k) => masked[k]).Should().OnlyContain(p => p == 0, "no policy sampled a tool's tokens");
            r.Generated.Spans.Should().Equal([new VersionSpan(r.Start!.Iteration - 1, r.Generated.Response.Length)],
                "every turn's tokens, the tool's too, record the weights version they were made under: the one before the sample's iteration");
            r.Scores!.Reward.Should().Be(ToolSyntax.FinalAnswer(text) == r.Start.Answer ? 1 : 0, $"the verifier checks what follows the last answer of {text}");
        }
        var first = records.Where(r => r.Start!.Iteration == 1).ToArray();
        metrics[1].Tools!.Calls.Should().Be(first.Sum(r => r.Generated!.Turns!.Calls));
        metrics[1].Tools!.MaskedTokens.Should().Be(first.Sum(r => r.Generated!.Turns!.Masked));
        metrics[1].Tools!.CallingShare.Should().Be((double)first.Count(r => r.Generated!.Turns!.Calls > 0) / first.Length);
    }

    [Fact]
    public async Task A_documents_file_that_is_missing_or_has_a_bad_line_is_refused_at_submit_naming_it()
    {
        var grains = fixture.Cluster.Client;
        var path = Path.Combine(ClusterFixture.CheckpointDirectory, "bad-documents.jsonl");
        Directory.CreateDirectory(ClusterFixture.CheckpointDirectory);
        await File.WriteAllLinesAsync(path, ["{\"text\":\"item 1000 lamp code 12\"}", "{\"title\":\"no text\"}"]);
        var tiny = RlJobTests.Tiny("search-bad", iterations: 1);
        var spec = tiny with { Rl = tiny.Rl! with { Task = RlTask.Lookup, Tools = new ToolsSpec { Tools = [ToolKind.Search, ToolKind.Calc], Documents = path } } };
        var submit = (JobSpec s) => grains.GetGrain<IJobGrain>("search-bad").Submit(s);

        await FluentActions.Awaiting(() => submit(spec)).Should().ThrowAsync<ArgumentException>().WithMessage($"rl.tools.documents: {path}:2: not an object with a \"text\" string");
        var gone = spec with { Rl = spec.Rl! with { Tools = spec.Rl.Tools! with { Documents = path + ".gone" } } };
        await FluentActions.Awaiting(() => submit(gone)).Should().ThrowAsync<ArgumentException>().WithMessage($"rl.tools.documents: documents file {path}.gone does not exist");
        (await grains.GetGrain<IJobGrain>("search-bad").Status()).State.Should().Be(JobState.NotSubmitted);
    }
}
