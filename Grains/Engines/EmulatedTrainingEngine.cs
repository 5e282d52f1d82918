using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// A trainer replica on an emulated device: a share's forward and backward take the cost model's
/// training seconds over its sequences (prompt + response); gradients are empty, the optimizer step
/// and weight hand-over cost the trainer nothing (workers pay for the weights' transfer as they load
/// them). An emulated model has no state to warm-start, save or load.
/// </summary>
/// <param name="clock">The device's time line (a colocated device's is shared with its other roles).</param>
public sealed class EmulatedTrainingEngine(EmulatedDevice device, IDeviceTime clock) : ITrainingEngine
{
    private readonly CostModel cost = EmulatedCosts.Of(device);

    public Task<double[]> WarmStart(SftRequest request) => throw NotModelled("a warm start");

    public async Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens)
    {
        await clock.Occupy(cost.TrainingSeconds(share.Select(r => r.PromptTokens + r.ResponseTokens).ToArray()), "training");
        return new GradientShare([], new TrainSums(share.Sum(r => r.ResponseTokens), 0, 0, 0, 0, 0));
    }

    /// <summary>A forward pass over the rows; the log-probs carry no numbers.</summary>
    public async Task<float[][]> LogProbs(TrainingRow[] rows)
    {
        await clock.Occupy(cost.ForwardSeconds(rows.Select(r => r.PromptTokens + r.ResponseTokens).ToArray()), "training");
        return [.. rows.Select(_ => Array.Empty<float>())];
    }

    public Task<PreferenceShare> PreferenceGradients(PreferenceBatch share) => throw NotModelled("preference loss");

    public Task<PairSums> PreferenceSums(PreferenceBatch pairs) => throw NotModelled("preference loss");

    public Task<double> Apply(float[] gradient) => Task.FromResult(0.0);

    public Task Publish(string objectName) => Task.CompletedTask;

    public Task LoadWeights(string objectName) => Task.CompletedTask;

    public Task SaveState(string prefix) => throw NotModelled("a checkpoint");

    public Task LoadState(string prefix) => throw NotModelled("a checkpoint");

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => clock.Take();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private static NotSupportedException NotModelled(string what) => new($"an emulated trainer holds no weights, so it has no {what}");
}
