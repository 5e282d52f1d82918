using Grains.Interfaces.Cluster;
namespace Grains.Interfaces.Rl;

/// <summary>
/// One sample of one iteration (key: job/iteration/index), holding its record. Transitions are
/// accepted only in order; a repeated message returns false and changes nothing, any other
/// out-of-order message is refused with an error naming both stages.
/// </summary>
public interface ISampleGrain : IGrainWithStringKey
{
    Task<bool> Create(SampleStart start);

    /// <summary>
    /// Nothing but its activation (its ledger entry read): a synchronous job activates its next step's
    /// samples while this step trains, so that creating them at the next step's start is a call, not an activation.
    /// </summary>
    Task Warm();

    /// <summary>
    /// Sent to a worker. The start comes along: a sample dealt at its step's launch is created by it (as
    /// <see cref="Create"/> would), and a record lost with the grain's silo before its response (only work is in the ledger) starts again from it.
    /// </summary>
    Task<bool> Dispatched(SampleStart start, string worker);

    /// <summary>The response is in; the job hears of it and its stage policy says when the sample is scored.</summary>
    Task<bool> Generated(GeneratedResponse response);

    /// <summary>Asks the scoring workers for the reward, reference log-probs and values, and records them.</summary>
    Task<bool> Score();

    /// <summary>As <see cref="Score"/>, on a colocated job's device <paramref name="device"/> (one its worker left free); elsewhere where <see cref="Score"/> would.</summary>
    Task<bool> ScoreOn(int device);

    /// <summary>The step trained on it: records its advantages (a repeat changes nothing), takes it out of the ledger and returns its last record.</summary>
    Task<SampleRecord> Trained(float[] advantages, float[]? returns);

    /// <summary>Puts a sample handed back by a worker before it finished in line for another (Generating to Created).</summary>
    Task<bool> Requeued();

    /// <summary>
    /// A sample the job found lost with a worker's silo (or its own): back to Created with this start,
    /// unless its response is already in; returns the stage it is at, so the job knows whether to send it again.
    /// </summary>
    Task<SampleStage> Restart(SampleStart start);

    Task<SampleRecord> Record();

    /// <summary>
    /// Its step will not train on it (a tail-batching round ended first): it leaves the ledger with the
    /// reason and reports nothing more; its worker's late answer is ignored. A repeat, or a trained sample, changes nothing.
    /// </summary>
    Task<SampleRecord> Discard(string reason);

}
