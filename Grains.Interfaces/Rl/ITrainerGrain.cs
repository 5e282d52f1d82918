using Grains.Interfaces.Cluster;
namespace Grains.Interfaces.Rl;

/// <summary>
/// One data-parallel replica of a trained model (key: job/actor/{r} or job/critic/{r}) on a training
/// device: the model and its optimizer. Replicas compute gradients on their shares, the job sums them,
/// and every replica applies the same sum, so all stay identical.
/// </summary>
public interface ITrainerGrain : IDeviceGrain
{
    /// <summary>Drops the model and optimizer: a run that starts afresh (after a silo's loss with no checkpoint yet) must not go on from an earlier run's weights.</summary>
    Task Reset();

    Task Setup(TrainerSetup setup);

    /// <summary>Supervised warm start for request.Steps more steps; returns each step's loss.</summary>
    // Many optimizer steps in one call: on a busy machine they outlast the default 30 s, and a timed-out call
    // is taken for a lost silo (the job went back to its checkpoint, again and again). A silo that dies is
    // still noticed at once: membership fails the calls it held.
    [ResponseTimeout("00:10:00")]
    Task<double[]> WarmStart(SftRequest request);

    Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens);

    /// <summary>The gradient of a DPO job's loss over this replica's share of a batch of preference pairs, and its sums.</summary>
    Task<PreferenceShare> PreferenceGradients(PreferenceBatch share);

    /// <summary>The sums of a DPO job's loss over pairs, without a gradient (held-out pairs).</summary>
    Task<PairSums> PreferenceSums(PreferenceBatch pairs);

    /// <summary>The model's log-probs of each row's response tokens (the proximal policy of decoupled PPO), at the job's temperature.</summary>
    Task<float[][]> LogProbs(TrainingRow[] rows);

    /// <summary>Clips and applies a summed gradient; returns the gradient norm before clipping.</summary>
    Task<double> Apply(float[] gradient);

    /// <summary>Writes the weights as safetensors to the checkpoint store under <paramref name="objectName"/>.</summary>
    Task Publish(string objectName);

    Task LoadWeights(string objectName);

    /// <summary>Saves weights and optimizer state under prefix/{actor|critic}.*; restores them.</summary>
    Task SaveState(string prefix);

    Task LoadState(string prefix);

    Task<DeviceUsage> TakeUsage();
}
