namespace Grains.Interfaces.Models;

/// <summary>Merges models' weights in the checkpoint store (<c>actors merge</c>): any silo can, none keeps state.</summary>
public interface IModelMergeGrain : IGrainWithIntegerKey
{
    /// <summary>Reads the inputs' safetensors objects, merges them as the request says and writes the result; what was written.</summary>
    Task<MergedModel> Merge(MergeRequest request);
}

/// <summary>
/// Two or more safetensors objects of the store merged into <see cref="Output"/>: linearly with one weight
/// each (<see cref="Weights"/>), or two of them by spherical interpolation at <see cref="Slerp"/> (0: the first).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record MergeRequest
{
    [Id(0)] public string[] Inputs { get; init; } = [];
    [Id(1)] public double[]? Weights { get; init; }
    [Id(2)] public double? Slerp { get; init; }
    [Id(3)] public string Output { get; init; } = "";
}

[GenerateSerializer, Immutable]
public sealed record MergedModel([property: Id(0)] string Output, [property: Id(1)] int Tensors, [property: Id(2)] long Bytes, [property: Id(3)] string Sha256);
