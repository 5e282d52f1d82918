using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>What a scoring worker's device does: score one batch of finished samples with the models the batch names.</summary>
public interface IScoringEngine : IAsyncDisposable
{
    Task<SampleScores[]> Score(ScoringModels models, ScoringRequest[] batch);

    (double BusySeconds, BusyInterval[]? Intervals) TakeUsage();
}
