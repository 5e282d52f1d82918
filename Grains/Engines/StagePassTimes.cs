namespace Grains.Engines;

/// <summary>One micro-batch's forward through one stage of the actor and of the critic, in any unit: schedules use only their ratio.</summary>
public sealed record StagePassTimes(double Actor, double Critic)
{
    public static StagePassTimes Unit { get; } = new(1, 1);
}
