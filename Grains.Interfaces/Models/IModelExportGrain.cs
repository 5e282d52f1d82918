namespace Grains.Interfaces.Models;

/// <summary>
/// A job's trained actor on its way out of the cluster (<c>actors export</c>; key: the job's name): the
/// weights version is opened, then read in chunks, as every large object moves.
/// </summary>
public interface IModelExportGrain : IGrainWithStringKey
{
    /// <summary>Opens version <paramref name="iteration"/> of the job's actor (the latest kept when null); what it is.</summary>
    Task<ExportedModel> Open(int? iteration);

    /// <summary>Up to <paramref name="most"/> bytes of the opened version's safetensors from <paramref name="offset"/>.</summary>
    Task<byte[]> Read(long offset, int most);
}

/// <summary>The opened weights: their object, version and length, and the job's model preset and sampling temperature.</summary>
[GenerateSerializer, Immutable]
public sealed record ExportedModel(
    [property: Id(0)] string WeightsObject, [property: Id(1)] int Version, [property: Id(2)] long Length, [property: Id(3)] string Model, [property: Id(4)] double Temperature);
