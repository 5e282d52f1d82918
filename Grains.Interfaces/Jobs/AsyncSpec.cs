namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "async" section of an rl job: generation runs ahead of training by up to
/// <see cref="MaxStaleness"/> weight versions (StreamRL's one-step asynchrony at 1, AReaL's bounded
/// staleness above). Step i's samples are generated with the weights of version max(0, i - 1 - k), so
/// step i + 1.. are generated while step i trains; 0 is synchronous. With <see cref="Decoupled"/> the
/// actor's loss is decoupled PPO: it clips against the trainer's own weights before the step (the
/// proximal policy) and weights each token by proximal / behaviour probability, cut past
/// <see cref="BehaviourWeightCap"/>; without it, plain PPO against the stale behaviour policy (the ablation).
/// With <see cref="PartialRollouts"/> each new version reaches the workers at once and interrupts their
/// batches: a sample's tokens then come from several versions, the oldest bounded as above.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record AsyncSpec
{
    /// <summary>The most weight versions a trained sample's weights may be behind the trainer's.</summary>
    public const int MostStaleness = 16;

    /// <summary>How many weight versions generation may run ahead of training (0: synchronous).</summary>
    [Id(0)] public int MaxStaleness { get; init; } = 1;
    /// <summary>Decoupled PPO (AReaL): the proximal policy of the last version separates the behaviour importance weight from the clipping.</summary>
    [Id(1)] public bool Decoupled { get; init; } = true;
    /// <summary>The cap of the behaviour importance weight with decoupled PPO (above 1).</summary>
    [Id(2)] public double BehaviourWeightCap { get; init; } = 5.0;
    /// <summary>A new weights version interrupts the workers' running samples, which go on under it from their tokens so far (AReaL's interruptible rollouts).</summary>
    [Id(3)] public bool PartialRollouts { get; init; }
    /// <summary>
    /// StreamRL's dynamic batches: each mini-batch is the next promptsPerIteration / miniBatches groups to
    /// be scored whole, trained at once (advantages over its own groups); the step's order then follows timing.
    /// </summary>
    [Id(4)] public bool StreamTraining { get; init; }
    /// <summary>
    /// With partial rollouts, a worker tells the job a sample's tokens so far each time it has made this many
    /// more: a sample lost with its worker's silo goes on from there on another worker (fewer tokens lost
    /// against more messages to the job).
    /// </summary>
    [Id(5)] public int ProgressTokens { get; init; } = 1024;
    /// <summary>With partial rollouts, whether an interrupted sample's KV cache is kept or recomputed under the new version.</summary>
    [Id(6)] public InterruptedCache InterruptedCache { get; init; } = InterruptedCache.Auto;
    /// <summary>
    /// How far generation runs ahead: maxStaleness steps always (<see cref="RunAhead.Most"/>), or only as far as keeps the trainer fed
    /// (<see cref="RunAhead.Needed"/>): where generation is not the bottleneck, more steps ahead add staleness and no throughput.
    /// </summary>
    [Id(7)] public RunAhead RunAhead { get; init; } = RunAhead.Most;
    /// <summary>
    /// With decoupled PPO (the default when unset): a token sampled l versions before the proximal policy is clipped at
    /// rl.clipRatio / (1 + l), so the l + 1 updates its stale gradient reaches share one step's trust region
    /// (what it does to learning at k = 1, 2 and 4: the README's learning parity on the arithmetic job).
    /// </summary>
    [Id(8)] public bool? ClipByLag { get; init; }

    /// <summary>
    /// With partial rollouts, every this many seconds of device time (an emulated device's own; wall seconds on
    /// real ones) the samples being generated move between workers, with their KV caches where sending is
    /// sooner than a prefill, so that each worker holds about as much context: a decoding step reads all its
    /// batch's keys and values, so a long response beside other long ones decodes slower, and its step waits
    /// for it (Grains/Iteration/Policies/ContextBalance.cs). 0: samples stay where they were sent.
    /// </summary>
    [Id(9)] public double BalanceEverySeconds { get; init; }

    /// <summary>Whether the actor's clip range shrinks with each token's version lag (<see cref="ClipByLag"/>).</summary>
    public bool ScalesClipByLag => Decoupled && (ClipByLag ?? true);

    /// <summary>The first problem found, as "rl.async.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        MaxStaleness is < 0 or > MostStaleness ? $"rl.async.maxStaleness: {MaxStaleness} must be between 0 and {MostStaleness}"
        : ProgressTokens < 1 ? $"rl.async.progressTokens: {ProgressTokens} must be at least 1"
        : !Enum.IsDefined(InterruptedCache) ? $"rl.async.interruptedCache: {InterruptedCache} is not one of {string.Join(", ", SpecNames.All<InterruptedCache>())}"
        : !Enum.IsDefined(RunAhead) ? $"rl.async.runAhead: {RunAhead} is not one of {string.Join(", ", SpecNames.All<RunAhead>())}"
        : RunAhead == RunAhead.Needed && MaxStaleness == 0 ? "rl.async.runAhead: a synchronous job (maxStaleness 0) runs nothing ahead; set maxStaleness to 1 or more, or remove runAhead"
        : InterruptedCache != InterruptedCache.Auto && !PartialRollouts ? "rl.async.interruptedCache: only partial rollouts interrupt a sample; set partialRollouts or remove interruptedCache"
        : !(BalanceEverySeconds >= 0 && BalanceEverySeconds <= 1e6) ? $"rl.async.balanceEverySeconds: {BalanceEverySeconds} must be 0 (off) or a number of seconds up to 1e6"
        : BalanceEverySeconds > 0 && !PartialRollouts ? "rl.async.balanceEverySeconds: without partial rollouts a worker's batch holds one step's samples, which stay where they began; set partialRollouts or remove balanceEverySeconds"
        : PartialRollouts && MaxStaleness == 0 ? "rl.async.partialRollouts: a synchronous job (maxStaleness 0) has no newer weights to interrupt a rollout with; set maxStaleness to 1 or more"
        : ClipByLag == true && !Decoupled ? "rl.async.clipByLag: plain PPO (decoupled false) clips against the behaviour policy, whose lag is in the ratio already; set decoupled or remove clipByLag"
        : !(BehaviourWeightCap > 1 && BehaviourWeightCap <= 1e6) ? $"rl.async.behaviourWeightCap: {BehaviourWeightCap} must be greater than 1 and at most 1e6"
        : StreamTraining && rl.Epochs != 1 ? $"rl.epochs: {rl.Epochs}, but rl.async.streamTraining trains each mini-batch once, as it is scored; set epochs to 1"
        : StreamTraining && rl.MiniBatches > rl.PromptsPerIteration ? $"rl.miniBatches: {rl.MiniBatches}, but rl.async.streamTraining makes mini-batches of whole groups and a step has {rl.PromptsPerIteration}"
        : rl.Placement == RolePlacement.Colocated ? "rl.async: colocated devices take turns at generating and training, so neither can run ahead; use placement 'disaggregated'"
        : null;
}
