namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "pipeline" section of an rl job: train the actor (and the critic) pipeline-parallel on stage
/// grains instead of one trainer per replica. Each of the rl section's trainingReplicas is a pipeline of
/// <see cref="Stages"/> devices; every mini-batch share is cut into <see cref="MicroBatches"/>. With
/// "1f1b" or "gpipe" the critic's pipeline has its own devices; "fused" puts the critic's
/// <see cref="CriticStages"/>-stage replicas on the actor's devices in reverse order and runs the
/// planner's fused schedule (one replica only).
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PipelineSpec
{
    [Id(0)] public int Stages { get; init; } = 2;
    /// <summary>The critic's stages; the actor's when omitted.</summary>
    [Id(1)] public int? CriticStages { get; init; }
    [Id(2)] public int MicroBatches { get; init; } = 4;
    [Id(3)] public PipelineScheduleKind Schedule { get; init; } = PipelineScheduleKind.OneForwardOneBackward;
    /// <summary>How activations and gradients travel between stages.</summary>
    [Id(4)] public WireFormat Wire { get; init; } = WireFormat.Fp32;

    [System.Text.Json.Serialization.JsonIgnore] public int CriticStagesOrActor => CriticStages ?? Stages;

    /// <summary>The first problem found, as "rl.pipeline.field: problem", or null; <paramref name="rl"/> is the section it belongs to.</summary>
    public string? Problem(RlSpec rl)
    {
        var share = rl.PromptsPerIteration * rl.SamplesPerPrompt / rl.MiniBatches / rl.TrainingReplicas;
        return Stages is < 1 or > 64 ? $"rl.pipeline.stages: {Stages} must be between 1 and 64"
            : CriticStagesOrActor is < 1 or > 64 ? $"rl.pipeline.criticStages: {CriticStages} must be between 1 and 64"
            : CriticStages is not null && !rl.NeedsCritic ? $"rl.pipeline.criticStages: {SpecNames.Of(rl.Algorithm)} trains no critic"
            : MicroBatches is < 1 or > 1024 ? $"rl.pipeline.microBatches: {MicroBatches} must be between 1 and 1024"
            : !Enum.IsDefined(Schedule) ? $"rl.pipeline.schedule: {Schedule} is not one of {string.Join(", ", SpecNames.All<PipelineScheduleKind>())}"
            : !Enum.IsDefined(Wire) ? $"rl.pipeline.wire: {Wire} is not one of {string.Join(", ", SpecNames.All<WireFormat>())}"
            : MicroBatches > share ? $"rl.pipeline.microBatches: {MicroBatches} micro-batches exceed the {share} samples of a replica's mini-batch share"
            : Schedule != PipelineScheduleKind.Fused ? null
            : !rl.NeedsCritic ? $"rl.pipeline.schedule: 'fused' trains a critic in the actor's bubbles; {SpecNames.Of(rl.Algorithm)} has none"
            : rl.TrainingReplicas != 1 ? $"rl.pipeline.schedule: 'fused' runs one pipeline; trainingReplicas is {rl.TrainingReplicas}"
            : Stages % CriticStagesOrActor != 0 ? $"rl.pipeline.criticStages: {CriticStagesOrActor} must divide the actor's {Stages} stages"
            : MicroBatches % (Stages / CriticStagesOrActor) != 0 ? $"rl.pipeline.microBatches: {MicroBatches} must split evenly over the critic's {Stages / CriticStagesOrActor} replicas"
            : null;
    }
}
