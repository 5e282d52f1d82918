using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>
/// Trainer grains, one per data-parallel replica of the actor (and of the critic): each step every
/// replica computes the gradient of its share of the mini-batch, the shares are summed in replica order
/// and every replica applies the sum, so the replicas stay identical.
/// </summary>
public sealed class DataParallelBackend(JobSpec job, IGrainFactory grains, EmulatedJob? emulated) : ITrainerBackend
{
    private readonly JobKeys keys = JobKeys.For(job);
    private readonly ITrainerGrain[] actors = Replicas(job, grains, "actor");
    private readonly ITrainerGrain[] critics = job.Rl!.NeedsCritic ? Replicas(job, grains, "critic") : [];
    private static readonly IReadOnlyDictionary<string, double> NoDevices = new Dictionary<string, double>();

    public double? ExpectedBubble => null;

    public async Task Start(int start, Func<ITrainerGrain, Task> warmStart)
    {
        // From the beginning, every replica starts from its seed, whatever an earlier run left in it.
        if (start == 0) await Task.WhenAll(actors.Concat(critics).Select(t => t.Reset()));
        await Task.WhenAll(actors.Select(a => a.Setup(TrainerSetups.For(job, critic: false, emulated))));
        await Task.WhenAll(critics.Select(c => c.Setup(TrainerSetups.For(job, critic: true, emulated))));
        if (start > 0)
        {
            await Task.WhenAll(actors.Concat(critics).Select(t => t.LoadState(keys.Checkpoint(start))));
        }
        else
        {
            await warmStart(actors[0]);
            await actors[0].Publish(keys.ReferenceWeights);
            await Task.WhenAll(actors.Skip(1).Select(a => a.LoadWeights(keys.ReferenceWeights)));
        }
        await Publish(start);
    }

    public async Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch)
    {
        var actorStep = Step(actors, miniBatch);
        var criticStep = critics.Length > 0 ? Step(critics, miniBatch) : null;
        var (actor, norm) = await actorStep;
        return new TrainStep(actor, criticStep is null ? null : (await criticStep).Sums, norm, NoDevices, null);
    }

    public async Task Publish(int version)
    {
        await actors[0].Publish(keys.ActorWeights(version));
        if (critics.Length > 0) await critics[0].Publish(keys.CriticWeights(version));
    }

    public async Task SaveState(string prefix)
    {
        await actors[0].SaveState(prefix);
        if (critics.Length > 0) await critics[0].SaveState(prefix);
    }

    public Task<DeviceUsage[]> TakeUsage() => Task.WhenAll(actors.Concat(critics).Select(t => t.TakeUsage()));

    public Task Release() => Task.WhenAll(actors.Concat(critics).Select(t => t.Vacate()));

    /// <summary>
    /// One optimizer step of a model over a mini-batch split across its replicas: each computes the
    /// gradient of its share (divided by the mini-batch's tokens), the shares are summed in replica
    /// order, and every replica applies the sum.
    /// </summary>
    private static async Task<(TrainSums Sums, double GradNorm)> Step(ITrainerGrain[] replicas, TrainingRow[] miniBatch)
    {
        var tokens = miniBatch.Sum(r => r.ResponseTokens);
        var shares = await Task.WhenAll(replicas.Select((replica, r) => replica.Gradients(MiniBatchPlan.Share(miniBatch, r, replicas.Length), tokens)));
        var sum = new float[shares[0].Gradient.Length];
        foreach (var share in shares)
        {
            for (var k = 0; k < sum.Length; k++) sum[k] += share.Gradient[k];
        }
        var norms = await Task.WhenAll(replicas.Select(r => r.Apply(sum)));
        return (shares.Select(s => s.Sums).Aggregate((a, b) => a + b), norms[0]);
    }

    private static ITrainerGrain[] Replicas(JobSpec job, IGrainFactory grains, string model) =>
        [.. Enumerable.Range(0, job.Rl!.TrainingReplicas).Select(r => grains.GetGrain<ITrainerGrain>(JobKeys.For(job).Trainer(model, r)))];
}
