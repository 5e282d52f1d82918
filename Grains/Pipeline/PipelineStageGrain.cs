using Grains.Models;
using System.Diagnostics;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Pipeline;
using Kernels.Rl;
using Kernels.Training;
using Orleans.Concurrency;
using static TorchSharp.torch;

namespace Grains.Pipeline;

/// <summary>
/// One stage of one replica of a pipelined actor or critic on a training device. Reentrant: while its
/// step runs it takes activations, gradients and its peers' figures as they arrive. Tensor work runs on
/// the stage's device thread, one pass at a time in its device's order (<see cref="DeviceTurns"/>).
/// </summary>
[DevicePlacement(SiloRoles.Training), Reentrant]
public sealed class PipelineStageGrain(DeviceTurns turns, ICheckpointStore store) : DeviceGrain, IPipelineStageGrain
{
    private readonly Mailbox<(long Step, int MicroBatch), byte[]> activations = new();
    private readonly Mailbox<(long Step, int MicroBatch), byte[]> gradients = new();
    private readonly Mailbox<(long Step, int Replica), float[]> peerGradients = new();
    private readonly Mailbox<(long Step, int Stage), double> peerNorms = new();
    private StageSetup? setup;
    private DeviceThread? device;
    private PipelineStage? stage;
    private TrainedModel? trained;

    private StageSetup Set => setup ?? throw new StateLostException($"{this.GetPrimaryKeyString()} is not set up");

    public async Task Setup(StageSetup requested)
    {
        await Release();
        var trainer = requested.Trainer;
        var config = ModelCatalog.Config(trainer.Model);
        if (requested.Stages < 1 || requested.Stages > config.Layers) throw new ArgumentException($"{trainer.Model} has {config.Layers} layers: it cannot be cut into {requested.Stages} stages");
        if (requested.Stage < 0 || requested.Stage >= requested.Stages) throw new ArgumentOutOfRangeException(nameof(requested), requested.Stage, $"stage must be below {requested.Stages}");
        var options = TrainerSettings.Optimizer(trainer);
        device = new DeviceThread($"stage {this.GetPrimaryKeyString()}");
        await device.Run(() =>
        {
            // Every stage of every replica cuts its layers from the same seeded model.
            using var whole = new Transformer(config, trainer.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, trainer.Seed);
            var (first, end) = PipelineStage.Partition(config.Layers, requested.Stages)[requested.Stage];
            var slice = new Transformer(config, whole.Head, trainer.Seed, first, end);
            ModelCheckpoint.LoadWeights(slice, whole.state_dict(), allowUnexpected: true);
            stage = new PipelineStage(slice);
            trained = new TrainedModel(slice, new AdamWOptimizer(slice.parameters(), options), device, store, slice: true);
        });
        setup = requested;
        // A set-up starts the stage's steps afresh: after a silo's loss the job repeats steps from its last
        // checkpoint, and what an aborted step left here (its device's turns, messages from neighbours
        // still running when it was aborted) would refuse them.
        if (PipelineKeys.DeviceSlot(this.GetPrimaryKeyString()) is { } slot) turns.Forget(slot);
        FailMessages(new InvalidOperationException($"{this.GetPrimaryKeyString()} was set up again"));
    }

    public async Task<StageReport> Run(StageStep step)
    {
        var set = Set;
        var began = DateTimeOffset.UtcNow;
        var rows = new Dictionary<int, TrainingRow[]>();
        var sends = new List<Task>();
        var intervals = new List<BusyInterval>();
        var sums = UpdateSums.Zero;
        var busy = 0.0;
        await device!.Run(() =>
        {
            foreach (var p in stage!.Slice.parameters()) p.grad = null;
        });
        for (var i = 0; i < step.Passes.Length; i++)
        {
            var pass = step.Passes[i];
            var microBatch = GrainFactory.GetGrain<IMicroBatchGrain>(step.MicroBatches[pass.MicroBatch]);
            if ((stage!.IsFirst && !pass.Backward || stage.IsLast) && !rows.ContainsKey(pass.MicroBatch)) rows[pass.MicroBatch] = await microBatch.Rows(step.Step);
            var received = pass.Backward
                ? stage.IsLast ? null : await gradients.Take((step.Step, pass.MicroBatch))
                : stage.IsFirst ? null : await activations.Take((step.Step, pass.MicroBatch));

            await turns.WaitFor(step.Device, step.Step, step.Places[i]);
            var start = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            (byte[]? Output, UpdateSums Sums) result;
            try
            {
                result = await device.Run(() => pass.Backward ? Backward(pass, received) : Forward(pass, received, rows.GetValueOrDefault(pass.MicroBatch), step.MiniBatchTokens));
            }
            finally
            {
                turns.Done(step.Device, step.Step, step.Places[i]);
            }
            busy += clock.Elapsed.TotalSeconds;
            intervals.Add(new BusyInterval(start, DateTimeOffset.UtcNow, $"{set.Trainer.Model}{(set.Trainer.Critic ? " critic" : "")} {(pass.Backward ? "backward" : "forward")}"));
            sums = sums.Add(result.Sums);
            if (result.Output is { } output)
            {
                var neighbour = GrainFactory.GetGrain<IPipelineStageGrain>(pass.Backward ? set.Previous! : set.Next!);
                sends.Add(pass.Backward ? neighbour.Gradient(step.Step, pass.MicroBatch, output) : neighbour.Activation(step.Step, pass.MicroBatch, output));
            }
            _ = microBatch.Passed(step.Step, set.Stage, pass.Backward);
        }
        await Task.WhenAll(sends);
        var seconds = (DateTimeOffset.UtcNow - began).TotalSeconds;
        var norm = await Update(step.Step);
        return new StageReport(this.GetPrimaryKeyString(), step.Device, busy, seconds,
            TrainerSettings.Sums(sums), norm, [.. intervals]);
    }

    private (byte[]? Output, UpdateSums Sums) Forward(PipelinePass pass, byte[]? received, TrainingRow[]? rows, double miniBatchTokens)
    {
        using var scope = NewDisposeScope();
        var set = Set;
        var samples = rows?.Select(TrainerSettings.Sample).ToArray();
        var batch = samples is null ? null : PolicyUpdate.Batch(stage!.Slice, samples);
        var input = stage!.IsFirst ? batch!.Tokens : TensorCodec.Decode(received!);
        var sums = UpdateSums.Zero;
        Func<Tensor, Tensor>? loss = !stage.IsLast ? null : output =>
        {
            var t = set.Trainer;
            (var value, sums) = t.Critic
                ? PolicyUpdate.CriticLoss(output, batch!, samples!, miniBatchTokens, t.ValueClip)
                : PolicyUpdate.ActorLoss(output, batch!, samples!, miniBatchTokens, TrainerSettings.ActorLoss(t));
            return value;
        };
        var result = stage.Forward(pass.MicroBatch, input, loss);
        return (stage.IsLast ? null : TensorCodec.Encode(result, Wire), sums);
    }

    private (byte[]? Output, UpdateSums Sums) Backward(PipelinePass pass, byte[]? received)
    {
        using var scope = NewDisposeScope();
        var gradient = stage!.Backward(pass.MicroBatch, received is null ? null : TensorCodec.Decode(received));
        return (gradient is null ? null : TensorCodec.Encode(gradient, Wire), UpdateSums.Zero);
    }

    private WireFormat Wire => Set.BFloat16Wire ? WireFormat.BFloat16 : WireFormat.Float32;

    /// <summary>
    /// Sums this stage's gradient with the other replicas' (in replica order, so every replica adds the
    /// same numbers the same way), takes the norm over all stages of the model, and steps the optimizer.
    /// </summary>
    private async Task<double> Update(long step)
    {
        var set = Set;
        var parameters = stage!.Slice.parameters();
        if (set.DataParallelPeers.Length > 0)
        {
            var own = await device!.Run(() => Kernels.Training.Gradients.Flatten(parameters));
            var sends = set.DataParallelPeers.Select(peer => GrainFactory.GetGrain<IPipelineStageGrain>(peer).PeerGradient(step, set.Replica, own)).ToList();
            var replicas = set.DataParallelPeers.Length + 1;
            var total = new float[own.Length];
            for (var r = 0; r < replicas; r++)
            {
                var gradient = r == set.Replica ? own : await peerGradients.Take((step, r));
                for (var k = 0; k < total.Length; k++) total[k] += gradient[k];
            }
            await Task.WhenAll(sends);
            await device.Run(() => Kernels.Training.Gradients.Assign(parameters, total));
        }
        var squared = await device!.Run(() => trained!.Optimizer.GradNormSquared());
        var norms = set.PipelinePeers.Select(peer => GrainFactory.GetGrain<IPipelineStageGrain>(peer).PeerNorm(step, set.Stage, squared)).ToList();
        var sum = 0.0;
        for (var s = 0; s < set.Stages; s++) sum += s == set.Stage ? squared : await peerNorms.Take((step, s));
        await Task.WhenAll(norms);
        var norm = Math.Sqrt(sum);
        await device.Run(() => trained!.Optimizer.Step(norm));
        return norm;
    }

    public Task Activation(long step, int microBatch, byte[] data)
    {
        activations.Put((step, microBatch), data);
        return Task.CompletedTask;
    }

    public Task Gradient(long step, int microBatch, byte[] data)
    {
        gradients.Put((step, microBatch), data);
        return Task.CompletedTask;
    }

    public Task PeerGradient(long step, int replica, float[] gradient)
    {
        peerGradients.Put((step, replica), gradient);
        return Task.CompletedTask;
    }

    public Task PeerNorm(long step, int stage, double squaredNorm)
    {
        peerNorms.Put((step, stage), squaredNorm);
        return Task.CompletedTask;
    }

    public Task Abort(long step, string reason)
    {
        var error = new InvalidOperationException($"step {step} aborted: {reason}");
        FailMessages(error);
        if (PipelineKeys.DeviceSlot(this.GetPrimaryKeyString()) is { } slot) turns.Abort(slot, step, error);
        return Task.CompletedTask;
    }

    private void FailMessages(Exception error)
    {
        foreach (var mailbox in new Action<Exception>[] { activations.Fail, gradients.Fail, peerNorms.Fail, peerGradients.Fail }) mailbox(error);
    }

    public Task<byte[]> Weights() => Trained.Weights();

    public Task LoadWeights(string objectName) => Trained.LoadWeights(objectName);

    public Task SaveState(string prefix) => Trained.SaveState(StatePrefix(prefix));

    public Task LoadState(string prefix) => Trained.LoadState(StatePrefix(prefix));

    private string StatePrefix(string prefix) => $"{prefix}/{(Set.Trainer.Critic ? "critic" : "actor")}.s{Set.Stage}";

    private TrainedModel Trained => trained ?? throw new StateLostException($"{this.GetPrimaryKeyString()} is not set up");

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await Release();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private async Task Release()
    {
        if (device is null) return;
        await device.Run(() => stage?.Dispose());
        if (trained is not null) await trained.Dispose();
        device.Dispose();
        (device, stage, trained, setup) = (null, null, null, null);
    }
}
