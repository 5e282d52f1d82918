namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "pipeline" section of an rl job: train the actor (and the critic) pipeline-parallel on stage
/// grains instead of one trainer per replica. Each of the job's pipeline replicas (<see cref="Replicas"/>:
/// trainingReplicas, or on colocated devices as many as fill them) is a pipeline of <see cref="Stages"/>
/// devices; every mini-batch share is cut into <see cref="MicroBatches"/>. With "1f1b" or "gpipe" the
/// critic's pipelines have devices of their own (colocated: the same devices, after the actor's passes,
/// one model after the other); "fused" puts the critic's <see cref="CriticStages"/>-stage replicas on each
/// actor replica's devices in reverse order and runs the planner's fused schedule there.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PipelineSpec
{
    /// <summary>Pipeline stages of the actor: devices per pipeline.</summary>
    [Id(0)] public int Stages { get; init; } = 2;
    /// <summary>The critic's stages; the actor's when omitted.</summary>
    [Id(1)] public int? CriticStages { get; init; }
    /// <summary>Micro-batches each mini-batch share is cut into.</summary>
    [Id(2)] public int MicroBatches { get; init; } = 4;
    /// <summary>1f1b, gpipe, or fused (the critic's passes in the actor's bubbles, as the planner lays them out).</summary>
    [Id(3)] public PipelineScheduleKind Schedule { get; init; } = PipelineScheduleKind.OneForwardOneBackward;
    /// <summary>How activations and gradients travel between stages.</summary>
    [Id(4)] public WireFormat Wire { get; init; } = WireFormat.Fp32;

    [System.Text.Json.Serialization.JsonIgnore] public int CriticStagesOrActor => CriticStages ?? Stages;

    /// <summary>Data-parallel copies of the actor's pipeline: trainingReplicas, or on colocated devices generationWorkers / stages (every device holds a stage).</summary>
    public int Replicas(RlSpec rl) => rl.Placement == RolePlacement.Colocated ? rl.GenerationWorkers / Stages : rl.TrainingReplicas;

    /// <summary>The critic's pipelines: k = stages / criticStages per actor replica when fused, generationWorkers / criticStages colocated, else trainingReplicas.</summary>
    public int CriticReplicas(RlSpec rl) => Schedule == PipelineScheduleKind.Fused ? Replicas(rl) * (Stages / CriticStagesOrActor)
        : rl.Placement == RolePlacement.Colocated ? rl.GenerationWorkers / CriticStagesOrActor : rl.TrainingReplicas;

    /// <summary>The first problem found, as "rl.pipeline.field: problem", or null; <paramref name="rl"/> is the section it belongs to.</summary>
    public string? Problem(RlSpec rl)
    {
        var colocated = rl.Placement == RolePlacement.Colocated;
        var samples = rl.PromptsPerIteration * rl.SamplesPerPrompt / rl.MiniBatches;
        return Stages is < 1 or > 64 ? $"rl.pipeline.stages: {Stages} must be between 1 and 64"
            : CriticStagesOrActor is < 1 or > 64 ? $"rl.pipeline.criticStages: {CriticStages} must be between 1 and 64"
            : CriticStages is not null && !rl.NeedsCritic ? $"rl.pipeline.criticStages: {SpecNames.Of(rl.Algorithm)} trains no critic"
            : MicroBatches is < 1 or > 1024 ? $"rl.pipeline.microBatches: {MicroBatches} must be between 1 and 1024"
            : !Enum.IsDefined(Schedule) ? $"rl.pipeline.schedule: {Schedule} is not one of {string.Join(", ", SpecNames.All<PipelineScheduleKind>())}"
            : !Enum.IsDefined(Wire) ? $"rl.pipeline.wire: {Wire} is not one of {string.Join(", ", SpecNames.All<WireFormat>())}"
            : colocated && rl.GenerationWorkers % Stages != 0 ? $"rl.pipeline.stages: {Stages} stages do not divide the {rl.GenerationWorkers} colocated devices (each holds one stage of each model)"
            : colocated && rl.NeedsCritic && rl.GenerationWorkers % CriticStagesOrActor != 0 ? $"rl.pipeline.criticStages: {CriticStagesOrActor} stages do not divide the {rl.GenerationWorkers} colocated devices (each holds one stage of each model)"
            : MicroBatches > samples / Replicas(rl) ? $"rl.pipeline.microBatches: {MicroBatches} micro-batches exceed the {samples / Replicas(rl)} samples of a replica's mini-batch share"
            : Schedule != PipelineScheduleKind.Fused ? CriticMicroBatches(rl, samples)
            : !rl.NeedsCritic ? $"rl.pipeline.schedule: 'fused' trains a critic in the actor's bubbles; {SpecNames.Of(rl.Algorithm)} has none"
            : Stages % CriticStagesOrActor != 0 ? $"rl.pipeline.criticStages: {CriticStagesOrActor} must divide the actor's {Stages} stages"
            : MicroBatches % (Stages / CriticStagesOrActor) != 0 ? $"rl.pipeline.microBatches: {MicroBatches} must split evenly over the critic's {Stages / CriticStagesOrActor} replicas"
            : null;
    }

    private string? CriticMicroBatches(RlSpec rl, int samples) =>
        rl.NeedsCritic && MicroBatches > samples / CriticReplicas(rl)
            ? $"rl.pipeline.microBatches: {MicroBatches} micro-batches exceed the {samples / CriticReplicas(rl)} samples of a critic replica's mini-batch share"
            : null;
}
