using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>What a trainer replica's device does: gradients of a share of a mini-batch, optimizer steps, and the model's weights and state in the store.</summary>
public interface ITrainingEngine : IAsyncDisposable
{
    Task<double[]> WarmStart(SftRequest request);

    Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens);

    Task<float[][]> LogProbs(TrainingRow[] rows);

    Task<PreferenceShare> PreferenceGradients(PreferenceBatch share);

    Task<PairSums> PreferenceSums(PreferenceBatch pairs);

    Task<double> Apply(float[] gradient);

    Task Publish(string objectName);

    Task LoadWeights(string objectName);

    Task SaveState(string prefix);

    Task LoadState(string prefix);

    (double BusySeconds, BusyInterval[]? Intervals) TakeUsage();
}
