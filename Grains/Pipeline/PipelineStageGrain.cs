using System.Diagnostics;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Placement;
using Grains.Storage;
using Kernels.Emulation;
using Kernels.Rl;
using Orleans.Concurrency;

namespace Grains.Pipeline;

/// <summary>
/// One stage of one replica of a pipelined actor or critic on a training device (on a colocated job's
/// device, with its worker and scorer). Reentrant: while its step runs it takes activations, gradients and
/// its peers' figures as they arrive. Its device's work (<see cref="IStageEngine"/>: real tensors, or an
/// emulated device's time line) runs one pass at a time in its device's order (<see cref="DeviceTurns"/>).
/// </summary>
[DevicePlacement(SiloRoles.Training), Reentrant]
public sealed class PipelineStageGrain(DeviceTurns turns, ICheckpointStore store, HybridDevices hybrids, TensorThreads threads) : DeviceGrain, IPipelineStageGrain
{
    private readonly Mailbox<(long Step, int MicroBatch), byte[]> activations = new();
    private readonly Mailbox<(long Step, int MicroBatch), byte[]> gradients = new();
    private readonly Mailbox<(long Step, int Replica), float[]> peerGradients = new();
    private readonly Mailbox<(long Step, int Stage), double> peerNorms = new();
    private StageSetup? setup;
    private IStageEngine? engine;

    private StageSetup Set => setup ?? throw new StateLostException($"{this.GetPrimaryKeyString()} is not set up");

    private IStageEngine Engine => engine ?? throw new StateLostException($"{this.GetPrimaryKeyString()} is not set up");

    public async Task Setup(StageSetup requested)
    {
        await Release();
        if (requested.Stage < 0 || requested.Stage >= requested.Stages) throw new ArgumentOutOfRangeException(nameof(requested), requested.Stage, $"stage must be below {requested.Stages}");
        engine = requested.Trainer.Emulated is { } device
            ? new EmulatedStageEngine(requested, device, hybrids.For(this.GetPrimaryKeyString(), device, DeviceRole.Training))
            : await TensorStageEngine.Create(requested, store, this.GetPrimaryKeyString(), threads);
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
        var work = Engine;
        var began = DateTimeOffset.UtcNow;
        var inputs = new Dictionary<int, MicroBatchInput>();
        var sends = new List<Task>();
        var intervals = new List<BusyInterval>();
        var sums = UpdateSums.Zero;
        PairSums? pairSums = null;
        var logProbs = new List<MicroBatchLogProbs>();
        var busy = 0.0;
        var (first, last) = (set.Stage == 0, set.Stage == set.Stages - 1);
        if (step.Inference && step.Passes.FirstOrDefault(p => p.Backward) is { } refused) throw new ArgumentException($"an inference step runs forward passes only, not {refused}");
        if (!step.Inference) await work.BeginStep();
        for (var i = 0; i < step.Passes.Length; i++)
        {
            var pass = step.Passes[i];
            var microBatch = GrainFactory.GetGrain<IMicroBatchGrain>(step.MicroBatches[pass.MicroBatch]);
            if ((first && !pass.Backward || last) && !inputs.ContainsKey(pass.MicroBatch)) inputs[pass.MicroBatch] = await microBatch.Input(step.Step);
            var received = pass.Backward
                ? last ? null : await gradients.Take((step.Step, pass.MicroBatch))
                : first ? null : await activations.Take((step.Step, pass.MicroBatch));

            await turns.WaitFor(step.Device, step.Step, step.Places[i]);
            var start = DateTimeOffset.UtcNow;
            var clock = Stopwatch.StartNew();
            (byte[]? Output, UpdateSums Sums, PairSums Pairs) result;
            try
            {
                if (step.Inference)
                {
                    var (sent, rows) = await work.Infer(pass.MicroBatch, received, inputs.GetValueOrDefault(pass.MicroBatch));
                    if (rows is not null) logProbs.Add(new MicroBatchLogProbs(pass.MicroBatch, rows));
                    result = (sent, UpdateSums.Zero, PairSums.Zero);
                }
                else
                {
                    result = pass.Backward ? (await work.Backward(pass.MicroBatch, received), UpdateSums.Zero, PairSums.Zero)
                        : await work.Forward(pass.MicroBatch, received, inputs.GetValueOrDefault(pass.MicroBatch), step.MiniBatchTokens);
                }
            }
            finally
            {
                turns.Done(step.Device, step.Step, step.Places[i]);
            }
            busy += clock.Elapsed.TotalSeconds;
            intervals.Add(new BusyInterval(start, DateTimeOffset.UtcNow, $"{set.Trainer.Model}{(set.Trainer.Critic ? " critic" : "")} {(pass.Backward ? "backward" : "forward")}"));
            sums = sums.Add(result.Sums);
            if (last && !pass.Backward && inputs[pass.MicroBatch].Pairs is not null) pairSums = (pairSums ?? PairSums.Zero) + result.Pairs;
            if (result.Output is { } output)
            {
                var neighbour = GrainFactory.GetGrain<IPipelineStageGrain>(pass.Backward ? set.Previous! : set.Next!);
                var (step1, index, backward) = (step.Step, pass.MicroBatch, pass.Backward);
                sends.Add(After(work.TransferSeconds(output), () => backward ? neighbour.Gradient(step1, index, output) : neighbour.Activation(step1, index, output)));
            }
            _ = microBatch.Passed(step.Step, set.Stage, pass.Backward);
        }
        await Task.WhenAll(sends);
        var seconds = (DateTimeOffset.UtcNow - began).TotalSeconds;
        var norm = step.Inference ? 0 : await Update(step.Step);
        return new StageReport(this.GetPrimaryKeyString(), step.Device, busy, seconds,
            TrainerSettings.Sums(sums), norm, [.. intervals], pairSums, step.Inference && last ? [.. logProbs] : null);
    }

    /// <summary>Sends after the link's time: the device goes on with its next pass meanwhile.</summary>
    private static async Task After(double seconds, Func<Task> send)
    {
        if (seconds > 0) await Task.Delay(TimeSpan.FromSeconds(seconds));
        await send();
    }

    /// <summary>
    /// Sums this stage's gradient with the other replicas' (in replica order, so every replica adds the
    /// same numbers the same way), takes the norm over all stages of the model, and steps the optimizer.
    /// </summary>
    private async Task<double> Update(long step)
    {
        var set = Set;
        if (set.DataParallelPeers.Length > 0)
        {
            var own = await Engine.Gradient();
            var sends = set.DataParallelPeers.Select(peer => GrainFactory.GetGrain<IPipelineStageGrain>(peer).PeerGradient(step, set.Replica, own)).ToList();
            var replicas = set.DataParallelPeers.Length + 1;
            var total = new float[own.Length];
            for (var r = 0; r < replicas; r++)
            {
                var gradient = r == set.Replica ? own : await peerGradients.Take((step, r));
                for (var k = 0; k < total.Length; k++) total[k] += gradient[k];
            }
            await Task.WhenAll(sends);
            await Engine.SetGradient(total);
        }
        var squared = await Engine.GradNormSquared();
        var norms = set.PipelinePeers.Select(peer => GrainFactory.GetGrain<IPipelineStageGrain>(peer).PeerNorm(step, set.Stage, squared)).ToList();
        var sum = 0.0;
        for (var s = 0; s < set.Stages; s++) sum += s == set.Stage ? squared : await peerNorms.Take((step, s));
        await Task.WhenAll(norms);
        var norm = Math.Sqrt(sum);
        await Engine.Step(norm);
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

    public Task<byte[]> Weights() => Engine.Weights();

    public Task LoadWeights(string objectName) => Engine.LoadWeights(objectName);

    public Task SaveState(string prefix) => Engine.SaveState(StatePrefix(prefix));

    public Task LoadState(string prefix) => Engine.LoadState(StatePrefix(prefix));

    private string StatePrefix(string prefix) => $"{prefix}/{(Set.Trainer.Critic ? "critic" : "actor")}.s{Set.Stage}";

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await Release();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private async Task Release()
    {
        if (engine is not null) await engine.DisposeAsync();
        (engine, setup) = (null, null);
    }
}
