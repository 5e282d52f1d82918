namespace Grains.Iteration.Policies;

/// <summary>
/// When a sample moves on: the scheduler tells the policy of each generated and each scored sample
/// (after recording it in the state) and carries out the actions it answers.
/// </summary>
public interface IStagePolicy
{
    IReadOnlyList<RolloutAction> Generated(RolloutState state, int sample);

    IReadOnlyList<RolloutAction> Scored(RolloutState state, int sample);
}
