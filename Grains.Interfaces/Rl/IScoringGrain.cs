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

    Task<DeviceUsage> TakeUsage();

    /// <summary>Where a sample is scored: the job's worker, or for emulated scoring one of its instances by the sample's index.</summary>
    public static string KeyFor(SampleStart start) =>
        start.Scoring.Emulated is { } e ? new JobKeys(start.Job, e.Device.Hybrid is not null).Scorer(start.Index % e.Instances) : start.Job;
}
