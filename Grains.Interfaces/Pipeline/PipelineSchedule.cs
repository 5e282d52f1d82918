namespace Grains.Interfaces.Pipeline;

/// <summary>One model of a pipeline schedule: its stages, its data-parallel replicas, and each replica's micro-batches.</summary>
[GenerateSerializer, Immutable]
public sealed record ModelLayout(
    [property: Id(0)] string Name,
    [property: Id(1)] int Stages,
    [property: Id(2)] int Replicas,
    [property: Id(3)] int MicroBatches);

/// <summary>One task of a schedule: the forward or backward pass of one micro-batch through one stage of one replica of model <see cref="Model"/> (an index into the schedule's models).</summary>
[GenerateSerializer, Immutable]
public sealed record PipelinePass(
    [property: Id(0)] int Model,
    [property: Id(1)] int Replica,
    [property: Id(2)] int MicroBatch,
    [property: Id(3)] int Stage,
    [property: Id(4)] bool Backward)
{
    public override string ToString() => $"{(Backward ? "B" : "F")}(model {Model}, replica {Replica}, micro-batch {MicroBatch}, stage {Stage})";
}

/// <summary>
/// A pipeline schedule as data: for every device, the ordered passes it runs. The device of a model's
/// stage is the one whose list holds its passes; several models (actor and critic) may share devices.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PipelineSchedule(
    [property: Id(0)] string Name,
    [property: Id(1)] ModelLayout[] Models,
    [property: Id(2)] PipelinePass[][] Devices);
