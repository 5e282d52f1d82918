namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "pools" section of an asynchronous rl job (StreamRL's resource split): the devices of its
/// generation workers and training replicas, as the job file gives them, are one budget that the job
/// divides itself. With <see cref="Split"/> auto the division is the one whose step is fastest (the pools
/// overlap in an asynchronous job): on emulated devices the job's scheduler simulated on the cost model
/// over the first step's lengths, from the start; on real devices, which have no cost model, the step is
/// max(T_generation, T_training) from the first steps' measured busy seconds, the job moving one unit a
/// step towards the fastest from the file's division. With <see cref="Elastic"/> the job divides it
/// again after each step, over the lengths that step reached, and moves one data-parallel unit (a
/// training replica's devices, as generation workers) towards the better division when what it gains over
/// the next steps exceeds what the move costs (the moved devices load weights and optimizer state).
/// With <see cref="Split"/> target the two counts are the most the job may use, and it uses the cheapest (at the workload's prices)
/// whose simulated step trains <see cref="SamplesPerSecond"/> (StreamRL's comparison of device classes at
/// one throughput target; emulated devices, whose cost model sizes the pools before they run).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PoolsSpec
{
    /// <summary>fixed (as the file gives it), auto (the division whose step is fastest) or target (the cheapest devices that meet <see cref="SamplesPerSecond"/>).</summary>
    [Id(0)] public PoolSplit Split { get; init; } = PoolSplit.Fixed;

    /// <summary>Divide the pools again after every step, moving one data-parallel unit when it pays.</summary>
    [Id(1)] public bool Elastic { get; init; }

    /// <summary>With split target: the trained samples a second the pools are sized for.</summary>
    [Id(2)] public double? SamplesPerSecond { get; init; }

    /// <summary>The first problem found, as "rl.pools.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        !Enum.IsDefined(Split) ? $"rl.pools.split: {Split} is not one of {string.Join(", ", SpecNames.All<PoolSplit>())}"
        : Split == PoolSplit.Target && SamplesPerSecond is null ? "rl.pools.samplesPerSecond: split 'target' sizes the pools for a throughput; give the trained samples a second"
        : SamplesPerSecond is { } target && !(double.IsFinite(target) && target > 0) ? $"rl.pools.samplesPerSecond: {target} is not a positive number of samples a second"
        : SamplesPerSecond is not null && Split != PoolSplit.Target ? $"rl.pools.samplesPerSecond: only split 'target' sizes the pools for a throughput; split '{SpecNames.Of(Split)}' divides the file's devices"
        : Split == PoolSplit.Target && Elastic ? "rl.pools.elastic: elastic pools move devices within a fixed budget, and split 'target' sizes the pools once; remove one"
        : Split == PoolSplit.Target && !rl.Emulated ? "rl.pools.split: 'target' sizes the pools on the cost model before they run, which real devices do not have; use 'auto' or 'fixed'"
        : rl.Placement == RolePlacement.Colocated ? "rl.pools: colocated devices hold every role, so there are no pools to divide; use placement 'disaggregated'"
        : rl.Staleness < 1 ? "rl.pools: the split balances generation against training, which overlap only in an asynchronous job; set rl.async.maxStaleness to 1 or more"
        : rl.Emulation is { } e && e.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1) % e.GenerationTensorParallel != 0
            ? $"rl.pools: a training replica's {e.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1)} devices do not make whole generation workers of {e.GenerationTensorParallel}; make trainingTensorParallel{(rl.NeedsCritic ? " x 2 (actor and critic)" : "")} a multiple of generationTensorParallel"
        : rl.Migration is not null && Elastic ? "rl.pools.elastic: a moved worker would leave the migration's tail workers changing under it; remove the migration section or elastic"
        : rl.Pipeline is not null ? "rl.pools: the pools move data-parallel training replicas, and rl.pipeline trains on pipeline stages; remove the pipeline section or the pools one"
        : null;
}
