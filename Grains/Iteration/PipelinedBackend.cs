using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Interfaces.Cluster;
using Grains.Data;
using Grains.Engines;
using Grains.Models;
using Grains.Pipeline;
using Grains.Storage;

namespace Grains.Iteration;

/// <summary>
/// Pipeline stages on stage grains (the job's "pipeline" section): the actor's trainer grain only
/// warm-starts a new job's model and gives its device back; the stages load it (or a checkpoint), run
/// each mini-batch as one step of the schedule, and publish merged weights. On emulated devices the
/// stages take the cost model's time for their passes and hold no weights: nothing is loaded or published,
/// and the schedule's pass times are the cost model's (<see cref="EmulatedJob.StagePassTimes"/>).
/// </summary>
public sealed class PipelinedBackend(JobSpec job, IGrainFactory grains, ICheckpointStore store, EmulatedJob? emulated = null) : ITrainerBackend
{
    private readonly RlSpec rl = job.Rl!;
    private readonly JobKeys keys = JobKeys.For(job);
    private PipelineTrainer? pipeline;

    public double? ExpectedBubble { get; private set; }

    public async Task Start(int start, Func<ITrainerGrain, Task> warmStart)
    {
        var spec = rl.Pipeline!;
        foreach (var (critic, field, stages) in new[] { (false, "stages", spec.Stages), (true, "criticStages", spec.CriticStagesOrActor) }.Where(m => !m.Item1 || rl.NeedsCritic))
        {
            var (model, layers) = emulated?.Shape(critic) is { } shape ? (shape.Name, shape.Layers) : (rl.Model, ModelCatalog.Config(rl.Model).Layers);
            if (stages > layers) throw new ArgumentException($"rl.pipeline.{field}: {model} has {layers} layers, too few for {stages} stages");
        }
        if (start == 0 && emulated is null)
        {
            var actor = grains.GetGrain<ITrainerGrain>(keys.Trainer("actor", 0));
            await actor.Setup(TrainerSetups.For(job, critic: false, emulated: null));
            await warmStart(actor);
            await actor.Publish(keys.ReferenceWeights);
            await actor.Vacate();
        }
        (var schedule, ExpectedBubble) = JobPipeline.Schedule(rl, job.Seed, emulated?.StagePassTimes());
        TrainerSetup[] setups = rl.NeedsCritic ? [TrainerSetups.For(job, false, emulated), TrainerSetups.For(job, true, emulated)] : [TrainerSetups.For(job, false, emulated)];
        pipeline = new PipelineTrainer(grains, job.Name, schedule, setups, spec.Wire == WireFormat.Bf16);
        await pipeline.Setup();
        if (emulated is not null) return;
        if (start > 0) await pipeline.LoadState(keys.Checkpoint(start));
        else await pipeline.LoadWeights(0, keys.ReferenceWeights);
        await Publish(start);
    }

    public async Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch)
    {
        var trainer = Pipeline;
        var result = await trainer.Step(StepNumber(iteration, index), [.. trainer.Schedule.Models.Select(m => JobPipeline.Cut(miniBatch, m))]);
        // An emulated colocated device's time line reports its training with its other roles'.
        var busy = emulated is not null ? [] : result.DeviceBusy.Select((seconds, d) => (keys.PipelineDevice(d), seconds)).ToDictionary();
        return new TrainStep(result.Sums[0], result.Sums.Length > 1 ? result.Sums[1] : null, result.GradNorm[0], busy, result.BubbleFraction);
    }

    /// <summary>
    /// A DPO step on the actor's pipeline: the pairs cut over its replicas and micro-batches as an RL mini-batch's
    /// rows are, a pair's two responses in one micro-batch, its loss on the last stage.
    /// </summary>
    public async Task<PreferenceTrainStep> PreferenceStep(int iteration, int index, PreferenceRow[] batch, PreferenceLossKind loss, double beta)
    {
        var trainer = Pipeline;
        var result = await trainer.PreferenceStep(StepNumber(iteration, index), JobPipeline.Cut(batch, trainer.Schedule.Models[0]), loss, beta);
        return new PreferenceTrainStep(result.Pairs, result.GradNorm[0], 0, result.DeviceBusy.Select((seconds, d) => (keys.PipelineDevice(d), seconds)).ToDictionary(), result.BubbleFraction);
    }

    /// <summary>
    /// Step numbers rise across iterations (and across a resume), as the devices' turns need: an iteration's
    /// optimizer step <paramref name="index"/> is odd, the proximal forward before it (<see cref="ProximalLogProbs"/>) the even number below.
    /// </summary>
    private static long StepNumber(int iteration, int index, bool proximal = false) => (long)iteration * 100_000 + 2L * index + (proximal ? 0 : 1);

    /// <summary>
    /// The actor's log-probs of the rows under its weights now, forward passes alone through its stages: the
    /// rows cut over its replicas as a step cuts a mini-batch, each replica's share in as many contiguous
    /// micro-batches as the schedule has (fewer when the share has fewer rows).
    /// </summary>
    public async Task<float[][]> ProximalLogProbs(int iteration, int index, TrainingRow[] rows)
    {
        var trainer = Pipeline;
        var layout = trainer.Schedule.Models[0];
        int[][][] cut = [.. Enumerable.Range(0, layout.Replicas).Select(r => MiniBatchPlan.Share(Enumerable.Range(0, rows.Length).ToArray(), r, layout.Replicas))
            .Select(share => Enumerable.Range(0, Math.Min(layout.MicroBatches, share.Length)).Select(i => MiniBatchPlan.Share(share, i, Math.Min(layout.MicroBatches, share.Length))).ToArray())];
        var logProbs = await trainer.LogProbs(StepNumber(iteration, index, proximal: true), 0, [.. cut.Select(replica => replica.Select(mb => mb.Select(k => rows[k]).ToArray()).ToArray())]);
        var result = new float[rows.Length][];
        for (var r = 0; r < cut.Length; r++)
        {
            for (var i = 0; i < cut[r].Length; i++)
            {
                for (var k = 0; k < cut[r][i].Length; k++) result[cut[r][i][k]] = logProbs[r][i][k];
            }
        }
        return result;
    }

    public async Task Publish(int version)
    {
        if (emulated is not null) return;
        await Pipeline.Publish(0, store, keys.ActorWeights(version));
        if (rl.NeedsCritic) await Pipeline.Publish(1, store, keys.CriticWeights(version));
    }

    public Task SaveState(string prefix) => Pipeline.SaveState(prefix);

    public Task<DeviceUsage[]> TakeUsage() => Task.FromResult<DeviceUsage[]>([]);

    public Task Release() => pipeline?.Release(shared: rl.Placement == RolePlacement.Colocated) ?? Task.CompletedTask;

    private PipelineTrainer Pipeline => pipeline ?? throw new InvalidOperationException($"job {job.Name}: the pipeline is not set up");
}
