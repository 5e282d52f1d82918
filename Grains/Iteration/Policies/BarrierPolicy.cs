namespace Grains.Iteration.Policies;

/// <summary>All generation, then all scoring, then training: each stage waits for the slowest sample of the one before.</summary>
public sealed class BarrierPolicy : IStagePolicy
{
    public IReadOnlyList<RolloutAction> Generated(RolloutState state, int sample) =>
        state.AllGenerated ? [.. Enumerable.Range(0, state.Samples).Select(k => new ScoreSample(k))] : [];

    public IReadOnlyList<RolloutAction> Scored(RolloutState state, int sample) => state.AllScored ? [new StartTraining()] : [];
}
