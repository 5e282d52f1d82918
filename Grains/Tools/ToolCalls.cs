using System.Diagnostics;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Tokenizers;
using Kernels.Tools;

namespace Grains.Tools;

/// <summary>
/// Runs a model's tool call the way a real service is called: the call parsed from the response's text, sent
/// to the tool's grain, given <see cref="ToolUse.TimeoutSeconds"/>, its result held to
/// <see cref="ToolUse.MaxResultCharacters"/> and to what the model's tokenizer can read. Whatever goes wrong
/// (a malformed call, a tool not given to the job, a throw, a timeout, a result too long) is an answer the model
/// sees ("error: ...") with its outcome for the metrics, never a failure of the sample.
/// </summary>
public static class ToolCalls
{
    /// <summary>
    /// The tool grain of each kind (one class per tool): the calculator's keyed by the job, the search's by its
    /// documents file, so jobs searching the same file share each silo's index of it.
    /// </summary>
    public static IToolGrain Grain(IGrainFactory grains, ToolKind tool, string job, ToolUse use) => tool switch
    {
        ToolKind.Calc => grains.GetGrain<IToolGrain>(job, typeof(CalculatorToolGrain).FullName),
        ToolKind.Search => grains.GetGrain<IToolGrain>(use.Documents ?? throw new ArgumentException("the search tool is given without documents"), typeof(SearchToolGrain).FullName),
        _ => throw new ArgumentOutOfRangeException(nameof(tool), tool, "no grain class for this tool"),
    };

    /// <summary>Answers the call that <paramref name="response"/> (a response's text so far) ends with; counted in the silo's meter by tool and outcome.</summary>
    public static async Task<ToolAnswer> Answer(IGrainFactory grains, string job, string response, ToolUse use, ITokenizer tokenizer)
    {
        var (call, malformed) = ToolSyntax.Parse(response);
        var given = call is null ? (ToolKind)(-1) : use.Tools.FirstOrDefault(t => SpecNames.Of(t) == call.Tool, (ToolKind)(-1));
        var answer = call is null ? new ToolAnswer(malformed!, ToolOutcome.Failed, 0)
            : !Enum.IsDefined(given) ? new ToolAnswer($"error: no tool {call.Tool} (tools: {string.Join(", ", use.Tools.Select(SpecNames.Of))})", ToolOutcome.Failed, 0)
            : await Answer(Grain(grains, given, job, use), call.Argument, use, tokenizer);
        // What the model reads back must be text its tokenizer has (a malformed call's echo may not be).
        answer = answer with { Text = Readable(answer.Text, int.MaxValue, tokenizer) };
        var tool = new KeyValuePair<string, object?>("tool", Enum.IsDefined(given) ? SpecNames.Of(given) : "none");
        Telemetry.ActorsMeter.ToolCalls.Add(1, Telemetry.ActorsMeter.Job(job), tool, new("outcome", answer.Outcome.ToString().ToLowerInvariant()));
        if (Enum.IsDefined(given)) Telemetry.ActorsMeter.ToolDuration.Record(answer.Seconds, Telemetry.ActorsMeter.Job(job), tool);
        return answer;
    }

    /// <summary>Calls <paramref name="tool"/> with <paramref name="argument"/> within the limits of <paramref name="use"/>.</summary>
    public static async Task<ToolAnswer> Answer(IToolGrain tool, string argument, ToolUse use, ITokenizer tokenizer)
    {
        var clock = Stopwatch.StartNew();
        string result;
        try
        {
            result = await tool.Call(argument).WaitAsync(TimeSpan.FromSeconds(use.TimeoutSeconds));
        }
        catch (TimeoutException)
        {
            return new ToolAnswer($"error: no answer within {use.TimeoutSeconds:0.###} s", ToolOutcome.TimedOut, clock.Elapsed.TotalSeconds);
        }
        catch (Exception e)
        {
            return new ToolAnswer(Readable($"error: {e.GetBaseException().Message}", use.MaxResultCharacters, tokenizer), ToolOutcome.Failed, clock.Elapsed.TotalSeconds);
        }
        var seconds = clock.Elapsed.TotalSeconds;
        // A tool's own error is told as far as the model can read it (cut to the limit); a result it cannot read is an error.
        if (result.StartsWith("error:", StringComparison.Ordinal)) return new ToolAnswer(Readable(result, use.MaxResultCharacters, tokenizer), ToolOutcome.Failed, seconds);
        if (result.Length > use.MaxResultCharacters)
        {
            return new ToolAnswer($"error: a result of {result.Length} characters is over the limit of {use.MaxResultCharacters}", ToolOutcome.CutOff, seconds);
        }
        if (!Expressible(result, tokenizer)) return new ToolAnswer("error: the result has characters the model cannot read", ToolOutcome.Failed, seconds);
        return new ToolAnswer(result, ToolOutcome.Answered, seconds);
    }

    /// <summary>A message as the model can read it: in lower case, its characters the tokenizer's (others dropped), cut to <paramref name="most"/>.</summary>
    public static string Readable(string message, int most, ITokenizer tokenizer)
    {
        var kept = new string([.. message.ToLowerInvariant().Where(c => Expressible(c.ToString(), tokenizer))]);
        return kept.Length <= most ? kept : kept[..most];
    }

    private static bool Expressible(string text, ITokenizer tokenizer)
    {
        try
        {
            tokenizer.Encode(text);
            return true;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }
}
