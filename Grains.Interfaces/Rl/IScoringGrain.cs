namespace Grains.Interfaces.Rl;

/// <summary>Scoring of finished samples: a stateless worker on inference silos (key: the job), with the models it names cached.</summary>
public interface IScoringGrain : IGrainWithStringKey
{
    Task<SampleScores> Score(ScoringRequest request);
}
