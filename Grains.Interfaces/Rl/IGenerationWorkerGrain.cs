using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
namespace Grains.Interfaces.Rl;

/// <summary>
/// A generation worker (key: job/g{index}), pinned to one device of a generation silo: a policy copy
/// and a continuous batch. Each finished sample is reported to its sample grain at once.
/// </summary>
public interface IGenerationWorkerGrain : IDeviceGrain
{
    Task Configure(GenerationLimits limits);

    /// <summary>Loads a policy version; samples admitted from now on record it.</summary>
    Task LoadWeights(WeightsRef weights);

    /// <summary>Queues samples; they are admitted as slots and tokens free.</summary>
    Task Submit(GenerationWork[] work);

    /// <summary>Takes every queued and running sample out, unfinished, with its state so far.</summary>
    Task<GenerationWork[]> HandBack();

    /// <summary>
    /// Takes out up to <paramref name="most"/> of the named samples held here: the queued ones first (the
    /// last queued first), then from the batch the furthest along, each with its tokens so far, and its KV
    /// cache as <paramref name="move"/> says. A worker back after its silo's loss so takes its share of the
    /// samples moved off it; a step's tail is so gathered on a few workers.
    /// </summary>
    Task<GenerationWork[]> Release(string[] sampleIds, int most, MigrationMove move);

    /// <summary>
    /// Greedy responses (up to and without end-of-sequence handling) for held-out prompts, with weights
    /// <paramref name="weights"/>: those of the batch, or a copy loaded for the evaluation (an asynchronous
    /// job's workers run ahead on older versions while the newest is evaluated). With <paramref name="tools"/>
    /// the responses call them as the job's samples do, the answers in them.
    /// </summary>
    Task<int[][]> Greedy(int[][] prompts, int maxNewTokens, WeightsRef weights, ToolUse? tools);

    /// <summary>Samples queued or running.</summary>
    Task<int> Pending();

    /// <summary>
    /// The ids of the samples queued or running here, until their sample grains have their responses: a
    /// sample the job sent here that is neither here nor generated was lost with this worker's silo.
    /// </summary>
    Task<string[]> Holding();

    Task<DeviceUsage> TakeUsage();
}
