using Grains.Interfaces.Rl;

namespace Grains.Interfaces.Jobs;

/// <summary>
/// Multi-turn rollouts with tools (rl.tools): a response may call a tool ("[calc 12*34]"), the call runs on the
/// tool's grain, its answer is appended ("&lt;408&gt;") and generation goes on, on the same worker with its KV cache,
/// up to <see cref="MaxTurns"/> calls and <see cref="ResponseTokens"/> tokens. The answers' tokens are masked out of
/// the losses; the task's verifier scores the text after the last answer.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ToolsSpec
{
    /// <summary>The tools a response may call, by the name its calls use.</summary>
    [Id(0)] public ToolKind[] Tools { get; init; } = [ToolKind.Calc];
    /// <summary>Tool calls a response may make; past them the call syntax is text like any other.</summary>
    [Id(1)] public int MaxTurns { get; init; } = 4;
    /// <summary>Seconds a call may take; a slower tool is cut off and the model sees an error.</summary>
    [Id(2)] public double TimeoutSeconds { get; init; } = 5;
    /// <summary>Characters a tool's result may have; a longer one is cut off and the model sees an error.</summary>
    [Id(3)] public int MaxResultCharacters { get; init; } = 32;
    /// <summary>The most tokens of a response, its tools' answers included (at least the task's own).</summary>
    [Id(4)] public int ResponseTokens { get; init; } = 64;
    /// <summary>
    /// The search tool's documents: JSONL of {"text": ...} on the silos' machines (`actors dataset lookup
    /// --documents` writes the lookup task's catalog), indexed by each silo that serves a search.
    /// </summary>
    [Id(5)] public string? Documents { get; init; }
    /// <summary>
    /// A turn-level reward (AReaL's turn rewards): what each call that fails, times out or is cut off earns, placed at
    /// the token that closed the call, so the turn that made it is credited rather than the whole response (0: none;
    /// e.g. -0.2). PPO and REINFORCE++ take it as a token reward; GRPO and RLOO add each token's rewards-to-go to the
    /// group-relative advantage.
    /// </summary>
    [Id(6)] public double FailedCallReward { get; init; }

    /// <summary>What each sample carries to its worker.</summary>
    public ToolUse Use() => new(Tools, MaxTurns, TimeoutSeconds, MaxResultCharacters) { Documents = Documents };

    public string? Problem(RlSpec rl)
    {
        static string? Range(string field, double value, double min, double max) =>
            value >= min && value <= max ? null : $"rl.tools.{field}: {value} must be between {min} and {max}";
        return (Tools.Length == 0 ? "rl.tools.tools: name at least one tool, or remove the tools section" : null)
            ?? Tools.Where(t => !Enum.IsDefined(t)).Select(t => $"rl.tools.tools: {t} is not one of {string.Join(", ", SpecNames.All<ToolKind>())}").FirstOrDefault()
            ?? (Tools.Distinct().Count() != Tools.Length ? "rl.tools.tools: a tool is named twice" : null)
            ?? (Tools.Contains(ToolKind.Search) && string.IsNullOrWhiteSpace(Documents) ? "rl.tools.documents: the search tool searches a documents file; name one" : null)
            ?? (!Tools.Contains(ToolKind.Search) && Documents is not null ? "rl.tools.documents: only the search tool reads documents; add search to rl.tools.tools or remove it" : null)
            ?? Range("maxTurns", MaxTurns, 1, 64)
            ?? Range("timeoutSeconds", TimeoutSeconds, 0.01, 600)
            ?? Range("maxResultCharacters", MaxResultCharacters, 1, 4096)
            ?? Range("responseTokens", ResponseTokens, 8, 65_536)
            ?? Range("failedCallReward", FailedCallReward, -10, 10)
            ?? (rl.Emulated ? "rl.tools: emulated devices make no tokens to call tools with; emulate their calls with rl.emulation.tools" : null);
    }
}
