using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>
/// How a job trains its actor (and critic): data-parallel trainer grains, or pipeline stages. The
/// runner only sees steps over mini-batches, published versions and checkpoints.
/// </summary>
public interface ITrainerBackend
{
    /// <summary>
    /// Sets the models up from the checkpoint after iteration <paramref name="start"/>, or for a new job
    /// warm-starts the actor with <paramref name="warmStart"/> and publishes it as the frozen reference;
    /// then publishes version <paramref name="start"/> for the workers and scorers.
    /// </summary>
    Task Start(int start, Func<ITrainerGrain, Task> warmStart);

    /// <summary>One optimizer step of every trained model over a mini-batch (<paramref name="index"/>: the step's place in its iteration).</summary>
    Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch);

    /// <summary>One optimizer step of a DPO job's policy over a batch of preference pairs (<paramref name="index"/>: its place in its iteration), a pair's two responses trained together.</summary>
    Task<PreferenceTrainStep> PreferenceStep(int iteration, int index, PreferenceRow[] batch, PreferenceLossKind loss, double beta);

    /// <summary>The actor's log-probs of each row's response now, before step <paramref name="index"/> of iteration <paramref name="iteration"/> (decoupled PPO's proximal policy).</summary>
    Task<float[][]> ProximalLogProbs(int iteration, int index, TrainingRow[] rows);

    /// <summary>Writes the actor (and critic) as weight version <paramref name="version"/>.</summary>
    Task Publish(int version);

    /// <summary>Weights and optimizer states under a checkpoint prefix.</summary>
    Task SaveState(string prefix);

    /// <summary>The trainers' usage since the last call (pipeline devices report through their steps).</summary>
    Task<DeviceUsage[]> TakeUsage();

    /// <summary>The bubble share the pipeline schedule should have; null when not pipelined.</summary>
    double? ExpectedBubble { get; }

    /// <summary>Gives the training devices back.</summary>
    Task Release();
}

/// <summary>What one optimizer step did: loss sums, the actor's gradient norm, and (pipelined) per-device busy seconds and the bubble.</summary>
/// <param name="Rebuilt">Replicas rebuilt from a survivor during the step (their silo was lost).</param>
/// <param name="EarlyRows">Rows whose gradients were computed on freed devices while the step still generated (rl.trainEarly).</param>
public sealed record TrainStep(TrainSums Actor, TrainSums? Critic, double GradNorm, IReadOnlyDictionary<string, double> DeviceBusy, double? Bubble, int Rebuilt = 0, int EarlyRows = 0);

/// <summary>What one DPO optimizer step did: the sums over its pairs, the gradient norm, replicas rebuilt, and (pipelined) per-device busy seconds and the bubble.</summary>
public sealed record PreferenceTrainStep(PairSums Sums, double GradNorm, int Rebuilt, IReadOnlyDictionary<string, double> DeviceBusy, double? Bubble);
