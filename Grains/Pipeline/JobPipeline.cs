using Grains.Data;
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
    /// "1f1b" or "gpipe": the actor's pipelines, and the critic's on devices of their own after them;
    /// expected bubble: the analytic (p - 1) / (m + p - 1) of each, weighted by devices. "fused": the
    /// planner's plan (unit pass times: both models have the job's shape), with its planned bubble rate.
    /// </summary>
    public static (PipelineSchedule Schedule, double ExpectedBubble) Schedule(RlSpec rl, long seed)
    {
        var p = rl.Pipeline ?? throw new ArgumentException("rl.pipeline: required");
        if (p.Schedule == PipelineScheduleKind.Fused)
        {
            var plan = FusedPlan(p.Stages, p.CriticStagesOrActor, p.MicroBatches, seed);
            return (PipelineSchedules.Fused(plan), plan.BubbleRate);
        }
        var actor = PipelineSchedules.Of(p.Schedule, new ModelLayout("actor", p.Stages, rl.TrainingReplicas, p.MicroBatches));
        var actorBubble = PipelineSchedules.OneForwardOneBackwardBubble(p.Stages, p.MicroBatches);
        if (!rl.NeedsCritic) return (actor, actorBubble);
        var critic = PipelineSchedules.Of(p.Schedule, new ModelLayout("critic", p.CriticStagesOrActor, rl.TrainingReplicas, p.MicroBatches));
        var criticBubble = PipelineSchedules.OneForwardOneBackwardBubble(p.CriticStagesOrActor, p.MicroBatches);
        var schedule = new PipelineSchedule(SpecNames.Of(p.Schedule), [actor.Models[0], critic.Models[0]],
            [.. actor.Devices, .. critic.Devices.Select(d => d.Select(pass => pass with { Model = 1 }).ToArray())]);
        return (schedule, (actor.Devices.Length * actorBubble + critic.Devices.Length * criticBubble) / schedule.Devices.Length);
    }

    /// <summary>
    /// The fused plan of an actor in <paramref name="stages"/> and a critic in <paramref name="criticStages"/>
    /// of the same shape (unit pass times), the critic's replicas splitting the micro-batches; reproducible per seed.
    /// </summary>
    public static PipelinePlan FusedPlan(int stages, int criticStages, int microBatches, long seed)
    {
        var problem = new PipelineProblem(stages, criticStages, microBatches, microBatches / (stages / criticStages), 1, 1, 1, 1);
        return FusedPlanner.Plan(problem, new PlannerOptions(Seconds: 10, Seed: seed, Chains: 1, MaxMovesPerChain: 20_000)).Plan;
    }

    /// <summary>A mini-batch as [replica][micro-batch]: the replicas' shares as data parallelism cuts them, each in contiguous micro-batches.</summary>
    public static T[][][] Cut<T>(T[] miniBatch, ModelLayout layout) =>
        Enumerable.Range(0, layout.Replicas).Select(r => MiniBatchPlan.Share(miniBatch, r, layout.Replicas))
            .Select(share => Enumerable.Range(0, layout.MicroBatches).Select(i => MiniBatchPlan.Share(share, i, layout.MicroBatches)).ToArray()).ToArray();
}
