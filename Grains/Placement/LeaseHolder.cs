using Grains.Interfaces.Pipeline;

namespace Grains.Placement;

/// <summary>
/// Who holds a device grain's lease: the grain itself, or the device slot its key names after "@", so
/// the grains that share a device share its lease: the stages a pipeline schedule puts on one device,
/// and a colocated job's worker and trainers of one device.
/// </summary>
public static class LeaseHolder
{
    public static string Of(GrainId grain) =>
        PipelineKeys.DeviceSlot(grain.Key.ToString()!) is { } slot ? $"shared-device/{slot}" : grain.ToString();
}
