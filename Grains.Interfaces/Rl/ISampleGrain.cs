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

    Task<bool> Dispatched(string worker);

    /// <summary>The response is in; the job hears of it and its stage policy says when the sample is scored.</summary>
    Task<bool> Generated(GeneratedResponse response);

    /// <summary>Asks the scoring workers for the reward, reference log-probs and values, and records them.</summary>
    Task<bool> Score();

    Task<bool> Trained(float[] advantages, float[]? returns);

    /// <summary>Puts a sample handed back by a worker before it finished in line for another (Generating to Created).</summary>
    Task<bool> Requeued();

    Task<SampleRecord> Record();

    /// <summary>The step is over: returns the sample's last record; the grain leaves memory, its record stays in the ledger.</summary>
    Task<SampleRecord> Retire();
}
