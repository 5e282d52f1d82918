namespace Grains.Interfaces.Rl;

/// <summary>
/// One sample for a generation worker, possibly begun elsewhere (its response so far and log-probs).
/// On emulated devices prompts and responses are lengths only. <see cref="Weights"/> is the version it
/// must be generated with: a worker admits it only with that version loaded, and loads it once the
/// samples of the version before have left its batch (asynchronous jobs run ahead on older weights);
/// with partial rollouts, that version or a newer one. <see cref="Spans"/>: which versions made its tokens so far.
/// <see cref="Step"/>: without partial rollouts a batch holds one step's samples, so that the steps an
/// asynchronous job generates with one version (its first ones) are batched the same on every run.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record GenerationWork(
    [property: Id(0)] string SampleId,
    [property: Id(1)] int[] Prompt,
    [property: Id(2)] long Seed,
    [property: Id(3)] int MaxNewTokens,
    [property: Id(4)] double Temperature,
    [property: Id(5)] int[] Response,
    [property: Id(6)] float[] LogProbs,
    [property: Id(7)] int EmulatedPrompt = 0,
    [property: Id(8)] int EmulatedGenerated = 0,
    [property: Id(9)] long PromptSeed = 0,
    [property: Id(10)] WeightsRef? Weights = null,
    [property: Id(11)] VersionSpan[]? Spans = null,
    [property: Id(12)] int Step = 0,
    [property: Id(13)] CarriedCache? Cache = null,
    [property: Id(14)] ToolUse? Tools = null,
    [property: Id(15)] ToolTurns? Turns = null)
{
    public int PromptTokens => Prompt.Length > 0 ? Prompt.Length : EmulatedPrompt;
    public int GeneratedTokens => Response.Length > 0 ? Response.Length : EmulatedGenerated;
}

/// <summary>
/// A running sample's KV cache, moved with it to another worker so that it goes on without reading its
/// context again: made with weights <see cref="Version"/> (a worker on another version prefills instead),
/// for the first <see cref="Positions"/> tokens of its context; <see cref="Entries"/>: each layer's keys and
/// values as TensorCodec buffers (none on emulated devices, where only its size counts).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record CarriedCache([property: Id(0)] int Version, [property: Id(1)] int Positions, [property: Id(2)] byte[][] Entries);

/// <summary>Consecutive response tokens sampled with one weights version (a partial rollout has several).</summary>
[GenerateSerializer, Immutable]
public sealed record VersionSpan([property: Id(0)] int Version, [property: Id(1)] int Tokens);

/// <summary>A policy version in the checkpoint store.</summary>
[GenerateSerializer, Immutable]
public sealed record WeightsRef([property: Id(0)] string Object, [property: Id(1)] int Version);

/// <summary>
/// Continuous-batching limits of a worker, and whether a newer weights version interrupts its running
/// samples (partial rollouts: they go on under the new weights from their tokens so far) or waits for them.
/// With <see cref="Progress"/> (partial rollouts) the worker tells the job its samples' tokens so far, so that
/// samples lost with its silo go on from there elsewhere (without, they start again from the prompt with
/// their seed, which gives the same response).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record GenerationLimits(
    [property: Id(0)] int MaxBatch,
    [property: Id(1)] int MaxTokens,
    [property: Id(2)] string Model,
    [property: Id(3)] int MaxSequenceLength,
    [property: Id(4)] EmulatedGenerator? Emulated = null,
    [property: Id(5)] bool PartialRollouts = false,
    [property: Id(6)] ProgressReports? Progress = null,
    [property: Id(7)] Jobs.InterruptedCache InterruptedCache = Jobs.InterruptedCache.Auto)
{
    /// <summary>The job the worker generates for: the one it hands its samples back to when its silo is drained.</summary>
    [Id(8)] public string? Job { get; init; }
}

/// <summary>A worker tells <paramref name="Job"/> a sample's tokens so far each time it has made <paramref name="Tokens"/> more.</summary>
[GenerateSerializer, Immutable]
public sealed record ProgressReports([property: Id(0)] string Job, [property: Id(1)] int Tokens);
