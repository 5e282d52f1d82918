namespace Grains.Interfaces.Jobs;

/// <summary>
/// Long-tail instances of more devices (rl.emulation.longTail): the first <see cref="Workers"/> generation
/// workers each span <see cref="TensorParallel"/> devices, more than a regular worker's, so each of their
/// tokens decodes sooner; skew-aware dispatch gives them the samples forecast longest, in small batches.
/// A step's generation ends with its longest response decoded token by token, and a decoding step reads
/// all the weights whatever the batch: more devices per instance is what makes that response itself faster.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record LongTailSpec
{
    /// <summary>How many of the generation workers are long-tail instances (workers 0 to Workers - 1).</summary>
    [Id(0)] public int Workers { get; init; } = 1;
    /// <summary>Devices per long-tail instance (tensor parallel): a power of two, at least rl.emulation.generationTensorParallel.</summary>
    [Id(1)] public int TensorParallel { get; init; } = 4;
    /// <summary>What they generate: the samples forecast longest (head), or each step's tail gathered onto them (tail, with rl.migration).</summary>
    [Id(2)] public LongTailRole Role { get; init; } = LongTailRole.Head;

    /// <summary>The first problem found, as "rl.emulation.longTail.field: problem", or null.</summary>
    public string? Problem(RlSpec rl)
    {
        var regular = rl.Emulation?.GenerationTensorParallel ?? 1;
        return Workers < 1 || Workers >= rl.GenerationWorkers
                ? $"rl.emulation.longTail.workers: {Workers} must be at least 1 and fewer than rl.generationWorkers ({rl.GenerationWorkers}), so regular workers remain"
            : TensorParallel is < 1 or > 64 || (TensorParallel & (TensorParallel - 1)) != 0 || TensorParallel < regular
                ? $"rl.emulation.longTail.tensorParallel: {TensorParallel} must be a power of two from generationTensorParallel ({regular}) to 64"
            : rl.Dispatch != DispatchPolicy.SkewAware
                ? "rl.emulation.longTail: long-tail instances take the samples skew-aware dispatch forecasts longest; set rl.dispatch to 'skew-aware'"
            : rl.Placement == RolePlacement.Colocated
                ? "rl.emulation.longTail: a colocated job's devices each hold one worker of generationTensorParallel; use placement 'disaggregated'"
            : rl.Pools is not null
                ? "rl.emulation.longTail: elastic pools move whole workers of generationTensorParallel devices; remove one of rl.pools and longTail"
            : rl.MaxGenerationWorkers is not null
                ? "rl.emulation.longTail: new workers joining would not be long-tail instances; remove one of rl.maxGenerationWorkers and longTail"
            : !Enum.IsDefined(Role) ? $"rl.emulation.longTail.role: {Role} is not one of {string.Join(", ", SpecNames.All<LongTailRole>())}"
            : Role == LongTailRole.Tail && rl.Migration is null
                ? "rl.emulation.longTail.role: 'tail' gathers each step's tail onto the instances; add an rl.migration section (its remaining says when)"
            : Role == LongTailRole.Tail && rl.Migration!.Workers != Workers
                ? $"rl.migration.workers: {rl.Migration.Workers}, but the tail is gathered on the long-tail instances; set it to rl.emulation.longTail.workers ({Workers})"
            : null;
    }
}
