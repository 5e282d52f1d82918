using System.Text.Json.Serialization;

namespace Grains.Interfaces.Jobs;

/// <summary>What a job does: train the smoke model, post-train a policy with RL, or with DPO on preference pairs.</summary>
public enum JobKind { Smoke, Rl, Dpo }

/// <summary>A DPO job's loss over a pair's log-ratio margin h: DPO's -log sigmoid(beta h), or IPO's (h - 1/(2 beta))^2.</summary>
public enum PreferenceLossKind { Sigmoid, Ipo }

/// <summary>The RL algorithm; each has an advantage estimator registered in Kernels.Rl.AdvantageEstimators under the same member name.</summary>
public enum Algorithm
{
    Grpo,
    Ppo,
    Rloo,
    [JsonStringEnumMemberName("reinforce++")] ReinforcePlusPlus,
}

/// <summary>A built-in task: its prompts, answers and verifier.</summary>
public enum RlTask { Arithmetic, Runlength, Lookup }

/// <summary>Where the reward comes from: the task's rule, or a learned reward model.</summary>
public enum RewardSource { Verifier, Model }

/// <summary>When a generated sample moves on to scoring (see Grains.Iteration.Policies).</summary>
public enum StagePolicy
{
    /// <summary>All generation, then all scoring, then training.</summary>
    Barrier,
    /// <summary>Each sample is scored the moment it is generated.</summary>
    Streaming,
}

/// <summary>Where a sample is generated (see Grains.Iteration.Policies).</summary>
public enum DispatchPolicy
{
    /// <summary>Sample k to worker k mod workers, all at once.</summary>
    [JsonStringEnumMemberName("round-robin")] RoundRobin,
    /// <summary>A worker takes the next sample when one of its own ends (it starts with a full batch).</summary>
    Pull,
    /// <summary>Pull in order of the length ranker's forecast, longest first, with the forecast-longest on a few long-tail workers in small batches (StreamRL).</summary>
    [JsonStringEnumMemberName("skew-aware")] SkewAware,
}

/// <summary>How a step's samples are cut into mini-batches (see Grains.Data.MiniBatchPlan).</summary>
public enum MiniBatchOrder
{
    /// <summary>A seeded shuffle cut into equal mini-batches.</summary>
    Shuffled,
    /// <summary>
    /// The shuffle, with the longest sequences (each more than half a replica's even share of a mini-batch's
    /// tokens) gathered into the first mini-batches, one per data-parallel replica, the others filling each in
    /// their shuffled order: an optimizer step waits for its slowest replica, and one long sequence in every
    /// mini-batch made every step wait for one.
    /// </summary>
    [JsonStringEnumMemberName("long-together")] LongTogether,
}

/// <summary>Where a job's roles run.</summary>
public enum RolePlacement
{
    /// <summary>Generation workers, scorers and trainers on devices of their own.</summary>
    Disaggregated,
    /// <summary>Every device hosts a worker, a scorer and a replica of each trained model, and switches between them (verl's hybrid engine).</summary>
    Colocated,
}

/// <summary>The estimator of KL to the reference, as Kernels.Rl.KlEstimator names them.</summary>
public enum KlEstimatorKind { K1, Abs, K2, K3 }

/// <summary>Real tensors, or cost-modelled emulated devices.</summary>
public enum DeviceKind { Tensor, Emulated }

/// <summary>A pipeline schedule: 1F1B, GPipe, or the planner's fused actor/critic plan.</summary>
public enum PipelineScheduleKind
{
    [JsonStringEnumMemberName("1f1b")] OneForwardOneBackward,
    Gpipe,
    Fused,
}

/// <summary>How activations and gradients travel between pipeline stages.</summary>
public enum WireFormat { Fp32, Bf16 }

/// <summary>Which samples long-tail instances of more devices (rl.emulation.longTail) generate.</summary>
public enum LongTailRole
{
    /// <summary>The head of skew-aware dispatch's forecast order (StreamRL's long-tail instances): the samples forecast longest.</summary>
    Head,
    /// <summary>Nothing dealt: each step's tail, the samples that turned out long, gathered onto them with their KV caches (rl.migration's gather, its targets these).</summary>
    Tail,
}

/// <summary>How a running sample moved to another worker (long-tail migration, a worker back after a loss) goes on there.</summary>
public enum MigrationMove
{
    /// <summary>With its KV cache where the cost model says sending it is sooner than prefilling its context again (real devices: always).</summary>
    Auto,
    /// <summary>With its KV cache, sent as TensorCodec buffers.</summary>
    Cache,
    /// <summary>Its context prefilled again where it lands.</summary>
    Prefill,
}

/// <summary>What becomes of an interrupted partial rollout's KV cache when a new weights version reaches its worker.</summary>
public enum InterruptedCache
{
    /// <summary>
    /// Kept on the device where the cost model says resuming on it is sooner than prefilling the context again
    /// (emulated devices; the keys and values of the tokens so far then stay the older version's); real devices recompute.
    /// </summary>
    Auto,
    /// <summary>Recomputed under the new weights: the context is prefilled again (AReaL's interruptible rollouts).</summary>
    Recompute,
}

/// <summary>How an asynchronous job's device budget is divided between generation and training (see PoolsSpec).</summary>
public enum PoolSplit
{
    /// <summary>As the job file gives generationWorkers and trainingReplicas.</summary>
    Fixed,
    /// <summary>The division whose simulated step is fastest on the cost model.</summary>
    Auto,
    /// <summary>The fewest workers and replicas, up to the file's, whose simulated step meets pools.samplesPerSecond.</summary>
    Target,
}

/// <summary>A tool a model may call while it generates (rl.tools), by the name its calls use: "[calc 12*34]".</summary>
public enum ToolKind
{
    /// <summary>The calculator: + - * / and parentheses over numbers.</summary>
    Calc,
    /// <summary>Full-text search over rl.tools.documents: the best-matching document's text.</summary>
    Search,
}

/// <summary>How many steps an asynchronous job generates ahead of the one it trains (see AsyncSpec.RunAhead).</summary>
public enum RunAhead
{
    /// <summary>Always maxStaleness steps: the most overlap, every trained sample maxStaleness versions old.</summary>
    Most,
    /// <summary>As few as keep the trainer from waiting, between 1 and maxStaleness, adjusted each step from whether its samples were in when its training began.</summary>
    Needed,
}
