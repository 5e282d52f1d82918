namespace Grains.Interfaces.Rl;

/// <summary>One sample for a generation worker, possibly begun elsewhere (its response so far and log-probs).</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationWork(
    [property: Id(0)] string SampleId,
    [property: Id(1)] int[] Prompt,
    [property: Id(2)] long Seed,
    [property: Id(3)] int MaxNewTokens,
    [property: Id(4)] double Temperature,
    [property: Id(5)] int[] Response,
    [property: Id(6)] float[] LogProbs);

/// <summary>A policy version in the checkpoint store.</summary>
[GenerateSerializer, Immutable]
public sealed record WeightsRef([property: Id(0)] string Object, [property: Id(1)] int Version);

/// <summary>Continuous-batching limits of a worker.</summary>
[GenerateSerializer, Immutable]
public sealed record GenerationLimits([property: Id(0)] int MaxBatch, [property: Id(1)] int MaxTokens, [property: Id(2)] string Model, [property: Id(3)] int MaxSequenceLength);

/// <summary>A device's work since the last report: seconds computing, and where it is.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceUsage([property: Id(0)] string Holder, [property: Id(1)] string Silo, [property: Id(2)] string Device, [property: Id(3)] double BusySeconds);
