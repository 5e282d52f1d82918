namespace Grains.Planning;

/// <summary>The schedules a fused plan is compared with.</summary>
public static class Baselines
{
    /// <summary>The actor's 1F1B on every device, then the critic's 1F1B: the two pipelines one after the other.</summary>
    public static PipelinePlan Sequential1F1B(PipelineProblem problem)
    {
        var orders = Enumerable.Range(0, problem.Devices).Select(_ => new List<int>()).ToArray();
        var index = problem.Tasks.ToDictionary(t => (t.Model, t.Replica, t.MicroBatch, t.Stage, t.Kind), t => t.Index);
        for (var s = 0; s < problem.Pp0; s++)
        {
            orders[s].AddRange(OneForwardOneBackward(problem.Pp0, s, problem.M0).Select(x => index[(PipelineModel.Actor, 0, x.MicroBatch, s, x.Kind)]));
        }
        for (var r = 0; r < problem.Replicas; r++)
        {
            for (var s = 0; s < problem.Pp1; s++)
            {
                orders[problem.CriticDevice(r, s)].AddRange(OneForwardOneBackward(problem.Pp1, s, problem.M1).Select(x => index[(PipelineModel.Critic, r, x.MicroBatch, s, x.Kind)]));
            }
        }
        return ScheduleDecoder.Decode(problem, orders.Select(o => o.ToArray()).ToArray());
    }

    /// <summary>
    /// 1F1B on stage s of p with m micro-batches: min(p - s - 1, m) warm-up forwards, then one forward and
    /// one backward in turn, then the remaining backwards.
    /// </summary>
    public static IEnumerable<(int MicroBatch, PassKind Kind)> OneForwardOneBackward(int stages, int stage, int microBatches)
    {
        var warmup = Math.Min(stages - stage - 1, microBatches);
        for (var i = 0; i < warmup; i++) yield return (i, PassKind.F);
        for (var i = 0; i < microBatches - warmup; i++)
        {
            yield return (warmup + i, PassKind.F);
            yield return (i, PassKind.B);
        }
        for (var i = microBatches - warmup; i < microBatches; i++) yield return (i, PassKind.B);
    }
}
