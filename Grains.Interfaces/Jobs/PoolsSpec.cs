namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "pools" section of an asynchronous rl job (StreamRL's resource split): the devices of its
/// generation workers and training replicas, as the job file gives them, are one budget that the job
/// divides itself. With <see cref="Split"/> auto the division is the one whose step minimises
/// max(T_generation, T_training) (the pools overlap in an asynchronous job, so the slower one sets the
/// pace): on emulated devices simulated on the cost model over the first step's lengths from the start; on
/// real devices, which have no cost model, found from the first steps' measured busy seconds, the job
/// moving one unit a step towards it from the file's division. With <see cref="Elastic"/> the job divides it
/// again after each step, over the lengths that step reached, and moves one data-parallel unit (a
/// training replica's devices, as generation workers) towards the better division when what it gains over
/// the next steps exceeds what the move costs (the moved devices load weights and optimizer state).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PoolsSpec
{
    /// <summary>fixed (as the file gives it) or auto (the division whose step is fastest).</summary>
    [Id(0)] public PoolSplit Split { get; init; } = PoolSplit.Fixed;

    /// <summary>Divide the pools again after every step, moving one data-parallel unit when it pays.</summary>
    [Id(1)] public bool Elastic { get; init; }

    /// <summary>The first problem found, as "rl.pools.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        !Enum.IsDefined(Split) ? $"rl.pools.split: {Split} is not one of {string.Join(", ", SpecNames.All<PoolSplit>())}"
        : rl.Placement == RolePlacement.Colocated ? "rl.pools: colocated devices hold every role, so there are no pools to divide; use placement 'disaggregated'"
        : rl.Staleness < 1 ? "rl.pools: the split balances generation against training, which overlap only in an asynchronous job; set rl.async.maxStaleness to 1 or more"
        : rl.Emulation is { } e && e.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1) % e.GenerationTensorParallel != 0
            ? $"rl.pools: a training replica's {e.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1)} devices do not make whole generation workers of {e.GenerationTensorParallel}; make trainingTensorParallel{(rl.NeedsCritic ? " x 2 (actor and critic)" : "")} a multiple of generationTensorParallel"
        : rl.Migration is not null && Elastic ? "rl.pools.elastic: a moved worker would leave the migration's tail workers changing under it; remove the migration section or elastic"
        : null;
}
