using Grains.Interfaces.Pipeline;

namespace Grains.Placement;

/// <summary>
/// Who holds a device grain's lease: the grain itself, or for a pipeline stage the device slot its key
/// names, so the stages a schedule puts on one device (the actor's and the critic's) share that device.
/// </summary>
public static class LeaseHolder
{
    public static string Of(GrainId grain) =>
        PipelineKeys.DeviceSlot(grain.Key.ToString()!) is { } slot ? $"pipeline-device/{slot}" : grain.ToString();
}
