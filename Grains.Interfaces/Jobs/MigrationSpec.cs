namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "migration" section of an rl job: RLHFuse's long-tail migration. When a step's samples not yet
/// generated fall to <see cref="Remaining"/> of its samples, they are taken out of every worker (with their
/// tokens so far) and gathered on <see cref="Workers"/> workers, which go on from those tokens (with the KV
/// cache sent along, or their context prefilled again, as <see cref="Move"/> says); the others are free for what comes next: the step's scoring on colocated devices, the
/// next step's samples in an asynchronous job (a worker holding one step's samples admits no newer step's).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record MigrationSpec
{
    /// <summary>The share of a step's samples still generating at which the tail is gathered (RLHFuse's R_t).</summary>
    [Id(0)] public double Remaining { get; init; } = 0.05;

    /// <summary>How many workers the tail is gathered on (RLHFuse's m).</summary>
    [Id(1)] public int Workers { get; init; } = 1;

    /// <summary>Whether a running sample moves with its KV cache or is prefilled again where it lands.</summary>
    [Id(2)] public MigrationMove Move { get; init; } = MigrationMove.Auto;

    /// <summary>
    /// Every this many trained steps, <see cref="Remaining"/> and <see cref="Workers"/> are chosen again by
    /// simulating the last step's lengths (emulated devices; 0: as given throughout).
    /// </summary>
    [Id(3)] public int RetuneEvery { get; init; }

    /// <summary>The first problem found, as "rl.migration.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        !(Remaining > 0 && Remaining < 1) ? $"rl.migration.remaining: {Remaining} must be a share of the step's samples, greater than 0 and less than 1"
        : Workers < 1 || Workers >= rl.GenerationWorkers ? $"rl.migration.workers: {Workers} must be at least 1 and fewer than rl.generationWorkers ({rl.GenerationWorkers}), so that the tail leaves some workers free"
        : RetuneEvery < 0 ? $"rl.migration.retuneEvery: {RetuneEvery} must be 0 (keep the settings) or a number of steps"
        : RetuneEvery > 0 && rl.Devices != DeviceKind.Emulated ? "rl.migration.retuneEvery: re-tuning simulates steps with the emulated devices' cost model, which real devices do not have; set it to 0"
        : !Enum.IsDefined(Move) ? $"rl.migration.move: {Move} is not one of {string.Join(", ", SpecNames.All<MigrationMove>())}"
        : rl.Async is { PartialRollouts: true } ? "rl.migration: with partial rollouts every worker admits every step's samples, so a gathered tail would share full batches with newer ones; remove rl.async.partialRollouts or the migration section"
        : null;
}
