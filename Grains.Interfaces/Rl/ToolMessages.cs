using Grains.Interfaces.Jobs;

namespace Grains.Interfaces.Rl;

/// <summary>
/// How a sample may call tools: which, how many calls (turns) at most, how long one may take and how long its
/// result may be (a tool past either is cut off: the model sees an error).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ToolUse(
    [property: Id(0)] ToolKind[] Tools,
    [property: Id(1)] int MaxTurns,
    [property: Id(2)] double TimeoutSeconds,
    [property: Id(3)] int MaxResultCharacters)
{
    /// <summary>The documents file the search tool searches (rl.tools.documents).</summary>
    [Id(4)] public string? Documents { get; init; }
}

/// <summary>How a tool call ended: answered, failed (the tool threw, or the call was malformed or named no tool given), timed out, or cut off (its result too long).</summary>
public enum ToolOutcome { Answered, Failed, TimedOut, CutOff }

/// <summary>A call in a response: the index of the response token that closed it, and how it ended.</summary>
[GenerateSerializer, Immutable]
public sealed record ToolCallLog([property: Id(0)] int End, [property: Id(1)] ToolOutcome Outcome);

/// <summary>What a call's turn appends for the model (a result, or "error: ..."), how it ended, and its wall seconds.</summary>
[GenerateSerializer, Immutable]
public sealed record ToolAnswer([property: Id(0)] string Text, [property: Id(1)] ToolOutcome Outcome, [property: Id(2)] double Seconds);

/// <summary>
/// A sample's tool turns so far: which of its response tokens a tool wrote (masked out of the losses), and its
/// calls by outcome with their wall seconds.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ToolTurns(
    [property: Id(0)] bool[] ToolTokens,
    [property: Id(1)] int Calls,
    [property: Id(2)] int Failed,
    [property: Id(3)] int TimedOut,
    [property: Id(4)] int CutOff,
    [property: Id(5)] double Seconds)
{
    public static readonly ToolTurns None = new([], 0, 0, 0, 0, 0);

    /// <summary>Each call in order: the response token that closed it (the last of the model's turn) and how it ended.</summary>
    [Id(6)] public ToolCallLog[] Log { get; init; } = [];

    /// <summary>These turns after <paramref name="sampled"/> more tokens of the model's and a call answered with <paramref name="answerTokens"/> tokens.</summary>
    public ToolTurns Answered(int sampled, int answerTokens, ToolAnswer answer) => new(
        [.. ToolTokens, .. Enumerable.Repeat(false, sampled), .. Enumerable.Repeat(true, answerTokens)], Calls + 1,
        Failed + (answer.Outcome == ToolOutcome.Failed ? 1 : 0), TimedOut + (answer.Outcome == ToolOutcome.TimedOut ? 1 : 0),
        CutOff + (answer.Outcome == ToolOutcome.CutOff ? 1 : 0), Seconds + answer.Seconds)
    {
        Log = [.. Log, new ToolCallLog(ToolTokens.Length + sampled - 1, answer.Outcome)],
    };

    /// <summary>
    /// Turn-level rewards over a response of <paramref name="tokens"/> tokens: <paramref name="failedCall"/> at the
    /// token that closed each call that did not answer (failed, timed out or cut off), 0 elsewhere; null when none earns one.
    /// </summary>
    public float[]? TurnRewards(int tokens, double failedCall)
    {
        var failed = Log.Where(l => l.Outcome != ToolOutcome.Answered && l.End >= 0 && l.End < tokens).ToArray();
        if (failedCall == 0 || failed.Length == 0) return null;
        var rewards = new float[tokens];
        foreach (var call in failed) rewards[call.End] += (float)failedCall;
        return rewards;
    }

    /// <summary>The mask over a whole response of <paramref name="tokens"/> tokens (the model's after the last answer unmarked).</summary>
    public bool[] Over(int tokens) => [.. ToolTokens, .. Enumerable.Repeat(false, Math.Max(0, tokens - ToolTokens.Length))];

    public int Masked => ToolTokens.Count(t => t);
}
