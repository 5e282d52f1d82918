namespace Grains.Interfaces.Pipeline;

/// <summary>
/// Keys of the pipeline's grains. A stage grain's key ends in "@{job}/d{device}": the device slot of
/// the schedule it runs on. Stage grains of different models on one slot (the actor's and the critic's
/// in a fused schedule) hold one device lease together: the slot is the lease's holder.
/// </summary>
public static class PipelineKeys
{
    public static string Stage(string job, string model, int replica, int stage, int device) => $"{job}/{model}/r{replica}/s{stage}@{job}/d{device}";

    public static string MicroBatch(string job, string model, int replica, int microBatch) => $"{job}/{model}/r{replica}/mb{microBatch}";

    /// <summary>The device slot of a stage key, or null for a key without one.</summary>
    public static string? DeviceSlot(string key) => key.LastIndexOf('@') is var at and >= 0 ? key[(at + 1)..] : null;
}
