using Kernels.Emulation;
using Grains.Cluster;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;

namespace Grains.Rl;

/// <summary>
/// One data-parallel replica of the actor or the critic on a training device, real or emulated (its
/// engine). Replicas are built from the same seed and always apply the same summed gradient, so they
/// stay identical without ever exchanging weights.
/// </summary>
[DevicePlacement(SiloRoles.Training)]
public sealed class TrainerGrain(ICheckpointStore store, HybridDevices hybrids, TensorThreads threads) : DeviceGrain, ITrainerGrain
{
    private TrainerSetup? setup;
    private ITrainingEngine? engine;

    private ITrainingEngine Engine => engine ?? throw new StateLostException($"{this.GetPrimaryKeyString()} is not set up");

    public async Task Setup(TrainerSetup requested)
    {
        if (setup == requested) return;
        if (engine is not null) await engine.DisposeAsync();
        (engine, setup) = (null, null);
        engine = requested.Emulated is { } device
            ? new EmulatedTrainingEngine(device, hybrids.For(this.GetPrimaryKeyString(), device, DeviceRole.Training))
            : await TensorTrainingEngine.Create(store, requested, $"trainer {this.GetPrimaryKeyString()}", threads);
        setup = requested;
    }

    public async Task Reset()
    {
        if (engine is not null) await engine.DisposeAsync();
        (engine, setup) = (null, null);
    }

    public Task<double[]> WarmStart(SftRequest request)
    {
        // Not set up at all is a state lost with a silo (Engine says so); a critic is asked wrongly.
        if (setup is { Critic: true }) throw new InvalidOperationException($"{this.GetPrimaryKeyString()}: only an actor has a warm start");
        if (request.Prompts.Length == 0 || request.Prompts.Length != request.Answers.Length) throw new ArgumentException("a warm start needs as many answers as prompts, at least one");
        return Engine.WarmStart(request);
    }

    public Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens)
    {
        if (miniBatchTokens <= 0) throw new ArgumentOutOfRangeException(nameof(miniBatchTokens), miniBatchTokens, "a mini-batch has tokens");
        return Engine.Gradients(share, miniBatchTokens);
    }

    public Task<PreferenceShare> PreferenceGradients(PreferenceBatch share)
    {
        Preference(share);
        return Engine.PreferenceGradients(share);
    }

    public Task<PairSums> PreferenceSums(PreferenceBatch pairs)
    {
        Preference(pairs);
        return Engine.PreferenceSums(pairs);
    }

    /// <summary>Refuses a batch a policy's preference loss cannot take, naming what is wrong.</summary>
    private void Preference(PreferenceBatch batch)
    {
        if (setup is { Critic: true }) throw new InvalidOperationException($"{this.GetPrimaryKeyString()}: only an actor trains on preference pairs");
        if (batch.BatchPairs < batch.Rows.Length || batch.BatchPairs <= 0) throw new ArgumentOutOfRangeException(nameof(batch), batch.BatchPairs, $"a batch of {batch.BatchPairs} pairs cannot hold a share of {batch.Rows.Length}");
        if (!(batch.Beta > 0)) throw new ArgumentOutOfRangeException(nameof(batch), batch.Beta, "beta must be positive");
        if (batch.Rows.FirstOrDefault(r => r.Chosen.Length == 0 || r.Rejected.Length == 0 || r.Prompt.Length == 0) is { } empty)
        {
            throw new ArgumentException($"a preference pair needs a prompt and two responses; one has {empty.Prompt.Length}, {empty.Chosen.Length} and {empty.Rejected.Length} tokens");
        }
    }

    public Task<float[][]> LogProbs(TrainingRow[] rows)
    {
        if (setup is { Critic: true }) throw new InvalidOperationException($"{this.GetPrimaryKeyString()}: only an actor has log-probs");
        return Engine.LogProbs(rows);
    }

    public Task<double> Apply(float[] gradient) => Engine.Apply(gradient);

    public Task Publish(string objectName) => Engine.Publish(objectName);

    public Task LoadWeights(string objectName) => Engine.LoadWeights(objectName);

    public Task SaveState(string prefix) => Engine.SaveState(prefix);

    public Task LoadState(string prefix) => Engine.LoadState(prefix);

    public Task<DeviceUsage> TakeUsage()
    {
        var (busy, intervals) = engine?.TakeUsage() ?? (0, null);
        return Task.FromResult(new DeviceUsage(this.GetPrimaryKeyString(), Lease.Silo, Lease.Device, busy, intervals));
    }

    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        if (engine is not null) await engine.DisposeAsync();
        await base.OnDeactivateAsync(reason, cancellationToken);
    }
}
