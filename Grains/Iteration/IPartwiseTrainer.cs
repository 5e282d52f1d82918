using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>
/// Trainers that take an optimizer step's rows in parts: each part's forward and backward run the moment it
/// comes, and the step is applied after the last, so only the last part's work follows the last row. Data-parallel
/// replicas can (their gradients are sums over rows); a pipeline cannot: its schedule cuts the step's rows into
/// micro-batches whole, and its devices' turns take one proximal forward per step.
/// </summary>
public interface IPartwiseTrainer
{
    /// <summary>
    /// One optimizer step of every trained model over the rows of <paramref name="parts"/> together: the same step
    /// as <see cref="ITrainerBackend.Step"/> over them at once, up to rounding.
    /// </summary>
    Task<TrainStep> Step(int iteration, int index, IAsyncEnumerable<TrainingRow[]> parts);
}
