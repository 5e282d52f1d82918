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
    [property: Id(3)] int MaxResultCharacters);

/// <summary>How a tool call ended: answered, failed (the tool threw, or the call was malformed or named no tool given), timed out, or cut off (its result too long).</summary>
public enum ToolOutcome { Answered, Failed, TimedOut, CutOff }

/// <summary>What a call's turn appends for the model (a result, or "error: ..."), how it ended, and its wall seconds.</summary>
[GenerateSerializer, Immutable]
public sealed record ToolAnswer([property: Id(0)] string Text, [property: Id(1)] ToolOutcome Outcome, [property: Id(2)] double Seconds);
