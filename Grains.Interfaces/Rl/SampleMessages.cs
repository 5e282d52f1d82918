namespace Grains.Interfaces.Rl;

/// <summary>Where a sample is in its life; it only moves forward, one stage at a time.</summary>
public enum SampleStage
{
    New,
    Created,
    Generating,
    Generated,
    Scored,
    Trained,
    /// <summary>Out of its step untrained, for a reason the record names (a tail-batching round ended without it).</summary>
    Discarded,
}

/// <summary>
/// What a sample starts with: its prompt, the example it comes from, and how to sample its response.
/// <see cref="Run"/> tells runs of the job apart: a resumed job runs again iterations an earlier run
/// may have begun, and its samples replace theirs.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SampleStart(
    [property: Id(0)] string Job,
    [property: Id(1)] int Iteration,
    [property: Id(2)] int Index,
    [property: Id(3)] string Group,
    [property: Id(4)] int ExampleIndex,
    [property: Id(5)] int[] Prompt,
    [property: Id(6)] string Answer,
    [property: Id(7)] long SamplingSeed,
    [property: Id(8)] int MaxNewTokens,
    [property: Id(9)] double Temperature,
    [property: Id(11)] ScoringModels Scoring,
    [property: Id(12)] long Run,
    [property: Id(13)] int EmulatedPrompt = 0,
    [property: Id(14)] long PromptSeed = 0,
    [property: Id(15)] ToolUse? Tools = null)
{
    /// <summary>The prompt's tokens; an emulated job's prompts are lengths only.</summary>
    public int PromptTokens => Prompt.Length > 0 ? Prompt.Length : EmulatedPrompt;

    /// <summary>The same start, arrays compared by content.</summary>
    public bool SameAs(SampleStart other) =>
        this with { Prompt = other.Prompt } == other && Prompt.AsSpan().SequenceEqual(other.Prompt);

    public string Id => SampleKeys.Of(Job, Iteration, Index);
}

/// <summary>
/// A generation worker's result for one sample. An emulated device makes no tokens: its response is
/// empty and <see cref="EmulatedLength"/> says how long it is. <see cref="WeightVersion"/> is the
/// oldest version that sampled it; <see cref="Spans"/> say which versions sampled which tokens.
/// <see cref="Began"/>: when its worker admitted it into its batch (last admitted, for one interrupted and admitted again).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record GeneratedResponse(
    [property: Id(0)] int[] Response,
    [property: Id(1)] float[] LogProbs,
    [property: Id(2)] int WeightVersion,
    [property: Id(3)] string Worker,
    [property: Id(4)] bool Truncated,
    [property: Id(5)] int EmulatedLength = 0,
    [property: Id(6)] VersionSpan[]? Spans = null,
    [property: Id(7)] ToolTurns? Turns = null,
    [property: Id(8)] DateTimeOffset? Began = null)
{
    public int Tokens => Response.Length > 0 ? Response.Length : EmulatedLength;

    /// <summary>Whether more than one weights version sampled its tokens (an interrupted partial rollout).</summary>
    public bool Partial => Spans is { Length: > 1 };
}

/// <summary>
/// What scoring adds: the reward, the reference's log-probs, and (PPO) the critic's values, per response token; with a
/// pitch reward, the spoken answer's median pitch in Hz (0: nothing voiced).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SampleScores(
    [property: Id(0)] double Reward,
    [property: Id(1)] float[]? RefLogProbs,
    [property: Id(2)] float[]? Values,
    [property: Id(3)] double? PitchHz = null);

/// <summary>When the sample entered each stage (UTC).</summary>
[GenerateSerializer, Immutable]
public sealed record StageTimes(
    [property: Id(0)] DateTimeOffset? Created = null,
    [property: Id(1)] DateTimeOffset? Dispatched = null,
    [property: Id(2)] DateTimeOffset? Generated = null,
    [property: Id(3)] DateTimeOffset? Scored = null,
    [property: Id(4)] DateTimeOffset? Trained = null);

/// <summary>
/// The whole record of one sample. <see cref="RefusedTrainings"/>: times it was asked to be trained again
/// once trained (a call repeated after its answer was lost), each refused and counted.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SampleRecord(
    [property: Id(0)] SampleStage Stage,
    [property: Id(1)] SampleStart? Start,
    [property: Id(2)] string? Worker,
    [property: Id(3)] GeneratedResponse? Generated,
    [property: Id(4)] SampleScores? Scores,
    [property: Id(5)] float[]? Advantages,
    [property: Id(6)] float[]? Returns,
    [property: Id(7)] StageTimes Times,
    [property: Id(8)] int Dispatches = 0,
    [property: Id(9)] int RefusedTrainings = 0,
    [property: Id(10)] string? DiscardedFor = null)
{
    /// <summary>A sample not yet created.</summary>
    public static SampleRecord New { get; } = new(SampleStage.New, null, null, null, null, null, null, new StageTimes());

    /// <summary>Times it was sent to a worker after the first: after its worker was lost, drained, or handed it back.</summary>
    public int Redispatches => Math.Max(0, Dispatches - 1);
}

public static class SampleKeys
{
    public static string Of(string job, int iteration, int index) => $"{job}/{iteration}/{index}";

    /// <summary>The job a sample belongs to (job names hold no '/'); null for a key not made by <see cref="Of"/>.</summary>
    public static string? JobOf(string sampleId) => sampleId.IndexOf('/') is > 0 and var slash ? sampleId[..slash] : null;
}
