using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>
/// Trainers that begin a colocated step's mini-batch on the devices its generation has freed while the rest still
/// generate (rl.trainEarly), and apply it once every device is done. Data-parallel replicas can (a gradient is a sum
/// over rows, computed by any replica); pipeline stages span every device.
/// </summary>
public interface IEarlyTrainer
{
    /// <summary>
    /// One optimizer step of every trained model over <paramref name="miniBatch"/>: the same step as
    /// <see cref="ITrainerBackend.Step"/>, up to rounding, its rows' forward and backward run on each device once
    /// <paramref name="freed"/> says it is done generating, and applied once the step's generation is over.
    /// </summary>
    Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch, FreedDevices freed);
}
