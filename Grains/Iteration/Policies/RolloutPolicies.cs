using Grains.Interfaces.Jobs;

namespace Grains.Iteration.Policies;

/// <summary>The policies a job's settings name, fresh for each step (a dispatch policy may keep a step's cursor).</summary>
public static class RolloutPolicies
{
    public static IStagePolicy Stage(StagePolicy policy) => policy switch
    {
        StagePolicy.Barrier => new BarrierPolicy(),
        StagePolicy.Streaming => new StreamingPolicy(),
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "no such stage policy"),
    };

    public static IDispatchPolicy Dispatch(RlSpec rl) => rl.Dispatch switch
    {
        DispatchPolicy.RoundRobin => new RoundRobinDispatch(),
        DispatchPolicy.Pull => new PullDispatch(rl.MaxBatch),
        _ => throw new ArgumentOutOfRangeException(nameof(rl), rl.Dispatch, "no such dispatch policy"),
    };
}
