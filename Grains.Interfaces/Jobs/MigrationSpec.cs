namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "migration" section of an rl job: RLHFuse's long-tail migration. When a step's samples not yet
/// generated fall to <see cref="Remaining"/> of its samples, they are taken out of every worker (with their
/// tokens so far) and gathered on <see cref="Workers"/> workers, which go on from those tokens (their context
/// prefilled again); the others are free for what comes next: the step's scoring on colocated devices, the
/// next step's samples in an asynchronous job (a worker holding one step's samples admits no newer step's).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record MigrationSpec
{
    /// <summary>The share of a step's samples still generating at which the tail is gathered (RLHFuse's R_t).</summary>
    [Id(0)] public double Remaining { get; init; } = 0.05;

    /// <summary>How many workers the tail is gathered on (RLHFuse's m).</summary>
    [Id(1)] public int Workers { get; init; } = 1;

    /// <summary>The first problem found, as "rl.migration.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        !(Remaining > 0 && Remaining < 1) ? $"rl.migration.remaining: {Remaining} must be a share of the step's samples, greater than 0 and less than 1"
        : Workers < 1 || Workers >= rl.GenerationWorkers ? $"rl.migration.workers: {Workers} must be at least 1 and fewer than rl.generationWorkers ({rl.GenerationWorkers}), so that the tail leaves some workers free"
        : rl.Async is { PartialRollouts: true } ? "rl.migration: with partial rollouts every worker admits every step's samples, so a gathered tail would share full batches with newer ones; remove rl.async.partialRollouts or the migration section"
        : null;
}
