using Grains.Interfaces.Jobs;
using Grains.Interfaces.Cluster;
namespace Grains.Interfaces.Rl;

/// <summary>
/// Scoring of finished samples: a stateless worker on inference silos, with the models it names cached.
/// Key: the job; an emulated job's samples spread over job/s{k}, one scoring instance each.
/// </summary>
public interface IScoringGrain : IGrainWithStringKey
{
    Task<SampleScores> Score(ScoringRequest request);

    /// <summary>Each sequence's log-prob under the weights named (sum over its response tokens, temperature 1): a DPO job's reference, computed once per pair.</summary>
    Task<float[]> SequenceLogProbs(SequenceRequest request);

    Task<DeviceUsage> TakeUsage();

    /// <summary>
    /// Where a sample is scored: the job's worker, or for emulated scoring one of its instances, by the
    /// sample's index or, on a colocated job's devices, on <paramref name="device"/> where one is given.
    /// </summary>
    public static string KeyFor(SampleStart start, int? device = null) => start.Scoring.Emulated is not { } e ? start.Job
        : new JobKeys(start.Job, e.Device.Hybrid is not null).Scorer((e.Device.Hybrid is not null && device is { } d ? d : start.Index) % e.Instances);
}
