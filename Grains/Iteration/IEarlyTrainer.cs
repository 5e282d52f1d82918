using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>
/// Trainers that train a colocated step's mini-batches on the devices its generation has freed while the rest still
/// generate (rl.trainEarly). Data-parallel replicas can: a gradient is a sum over rows, computed by any replica, and a
/// replica on a device still generating applies the steps it missed, in order, once its device is free. Pipeline
/// stages span every device.
/// </summary>
public interface IEarlyTrainer
{
    /// <summary>
    /// One optimizer step of every trained model over <paramref name="miniBatch"/>: the same step as
    /// <see cref="ITrainerBackend.Step"/>, up to rounding, its rows' forward and backward run on the replicas whose
    /// device <paramref name="freed"/> says is free; it returns once those have applied it (every replica, once the
    /// step is generated).
    /// </summary>
    Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch, FreedDevices freed);
}
