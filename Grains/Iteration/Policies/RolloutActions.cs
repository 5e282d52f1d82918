namespace Grains.Iteration.Policies;

/// <summary>What a rollout policy asks the scheduler to do; the grains carry it out.</summary>
public abstract record RolloutAction;

/// <summary>Generate sample <paramref name="Sample"/> (its index in the step) on worker <paramref name="Worker"/>.</summary>
public sealed record DispatchTo(int Sample, int Worker) : RolloutAction;

/// <summary>Score a generated sample: reward, reference log-probs, critic values.</summary>
public sealed record ScoreSample(int Sample) : RolloutAction;

/// <summary>Every sample the step trains on is scored: start its training.</summary>
public sealed record StartTraining : RolloutAction;

/// <summary>Take the step's samples not yet generated off every other worker and gather them on <paramref name="Workers"/>.</summary>
public sealed record GatherTail(int[] Workers) : RolloutAction;

/// <summary>A tail-batching round is over: its samples <paramref name="Discard"/> (none it trains on) leave their workers and the step.</summary>
public sealed record EndRound(int[] Discard) : RolloutAction;
