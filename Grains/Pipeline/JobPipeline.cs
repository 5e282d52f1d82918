using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Pipeline;
using Grains.Planning;

namespace Grains.Pipeline;

/// <summary>
/// An rl job's pipeline: the schedule its "pipeline" section asks for, the bubble expected of it, and
/// how a mini-batch is cut into replicas' micro-batches.
/// </summary>
public static class JobPipeline
{
    /// <summary>
    /// "1f1b" or "gpipe": the actor's pipelines, and the critic's on devices of their own after them
    /// (colocated: on the same devices, each device running the critic's passes after the actor's); expected
    /// bubble: the analytic (p - 1) / (m + p - 1) of each, weighted by devices (colocated: by the time each
    /// model's pipeline spans). "fused": the planner's plan, one per actor replica, with its planned bubble rate.
    /// </summary>
    /// <param name="times">One micro-batch's forward through one stage of each model; unit times (both models of the job's shape) when not given.</param>
    public static (PipelineSchedule Schedule, double ExpectedBubble) Schedule(RlSpec rl, long seed, StagePassTimes? times = null)
    {
        var p = rl.Pipeline ?? throw new ArgumentException("rl.pipeline: required");
        times ??= StagePassTimes.Unit;
        if (p.Schedule == PipelineScheduleKind.Fused)
        {
            var plan = FusedPlan(p.Stages, p.CriticStagesOrActor, p.MicroBatches, seed, times);
            return (PipelineSchedules.Replicate(PipelineSchedules.Fused(plan), p.Replicas(rl)), plan.BubbleRate);
        }
        var actor = PipelineSchedules.Of(p.Schedule, new ModelLayout("actor", p.Stages, p.Replicas(rl), p.MicroBatches));
        var actorBubble = PipelineSchedules.OneForwardOneBackwardBubble(p.Stages, p.MicroBatches);
        if (!rl.NeedsCritic) return (actor, actorBubble);
        var critic = PipelineSchedules.Of(p.Schedule, new ModelLayout("critic", p.CriticStagesOrActor, p.CriticReplicas(rl), p.MicroBatches));
        var criticBubble = PipelineSchedules.OneForwardOneBackwardBubble(p.CriticStagesOrActor, p.MicroBatches);
        if (rl.Placement == RolePlacement.Colocated)
        {
            // One model after the other: each pipeline spans (m + p - 1) passes' time, of which each device works m.
            var (m, actorSpan, criticSpan) = (p.MicroBatches, (p.MicroBatches + p.Stages - 1) * times.Actor, (p.MicroBatches + p.CriticStagesOrActor - 1) * times.Critic);
            return (PipelineSchedules.OneAfterTheOther(actor, critic), 1 - m * (times.Actor + times.Critic) / (actorSpan + criticSpan));
        }
        var schedule = new PipelineSchedule(SpecNames.Of(p.Schedule), [actor.Models[0], critic.Models[0]],
            [.. actor.Devices, .. critic.Devices.Select(d => d.Select(pass => pass with { Model = 1 }).ToArray())]);
        return (schedule, (actor.Devices.Length * actorBubble + critic.Devices.Length * criticBubble) / schedule.Devices.Length);
    }

    /// <summary>
    /// The fused plan of an actor in <paramref name="stages"/> and a critic in <paramref name="criticStages"/>,
    /// the critic's replicas splitting the micro-batches; a forward of the actor takes 1, the critic's its
    /// ratio to it to two decimals (so the exact solver can scale the times to integers); reproducible per seed.
    /// </summary>
    public static PipelinePlan FusedPlan(int stages, int criticStages, int microBatches, long seed, StagePassTimes? times = null)
    {
        var critic = times is null ? 1 : Math.Max(0.01, Math.Round(times.Critic / times.Actor, 2));
        var problem = new PipelineProblem(stages, criticStages, microBatches, microBatches / (stages / criticStages), 1, critic, 1, 1);
        return FusedPlanner.Plan(problem, new PlannerOptions(Seconds: 10, Seed: seed, Chains: 1, MaxMovesPerChain: 20_000)).Plan;
    }

    /// <summary>A mini-batch as [replica][micro-batch]: the replicas' shares as data parallelism cuts them, each in contiguous micro-batches.</summary>
    public static T[][][] Cut<T>(T[] miniBatch, ModelLayout layout) =>
        Enumerable.Range(0, layout.Replicas).Select(r => MiniBatchPlan.Share(miniBatch, r, layout.Replicas))
            .Select(share => Enumerable.Range(0, layout.MicroBatches).Select(i => MiniBatchPlan.Share(share, i, layout.MicroBatches)).ToArray()).ToArray();
}
