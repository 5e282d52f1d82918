namespace Grains.Iteration.Policies;

/// <summary>Each sample is scored the moment it is generated, so scoring overlaps the long tail; training waits for the last score.</summary>
public sealed class StreamingPolicy : IStagePolicy
{
    public IReadOnlyList<RolloutAction> Generated(RolloutState state, int sample) => [new ScoreSample(sample)];

    public IReadOnlyList<RolloutAction> Scored(RolloutState state, int sample) => state.AllScored ? [new StartTraining()] : [];
}
