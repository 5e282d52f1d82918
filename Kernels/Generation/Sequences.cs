namespace Kernels.Generation;

/// <summary>A sequence to generate: its prompt's tokens and how to sample its response.</summary>
public sealed record GenerationRequest(string Id, int[] Prompt, SamplingParams Sampling);

public enum FinishReason
{
    /// <summary>A stop token was sampled (it is part of the response).</summary>
    Stop,
    /// <summary>The response reached MaxNewTokens, or the sequence the cache's length.</summary>
    Length,
    /// <summary>The sampling's call token was sampled: a tool call ends the model's turn (the sequence goes on after its answer).</summary>
    ToolCall,
}

/// <summary>
/// A finished response (or turn) with the log-probability of each of its tokens under the sampling distribution;
/// a turn that ended with a tool call carries its KV cache (as <see cref="SequenceSnapshot.KvCache"/>) to go on from.
/// </summary>
public sealed record CompletedSequence(string Id, int[] Prompt, int[] Response, float[] LogProbs, FinishReason Reason, byte[][]? KvCache = null);

/// <summary>
/// An unfinished sequence taken out of a running batch: everything needed to resume it elsewhere with
/// the same result (its tokens and log-probs so far; sampling is a pure function of seed and step).
/// <see cref="KvCache"/>, when present, holds its cached keys and values (TensorCodec buffers, one pair
/// per layer, for the leading positions it covers, at most prompt + response - 1 of them), which spares the new
/// worker the re-computation; positions past them (a tool's answer appended since) are read as a prefill.
/// </summary>
public sealed record SequenceSnapshot(GenerationRequest Request, int[] Response, float[] LogProbs, byte[][]? KvCache = null);
