using Grains.Data;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>From the emulation messages to the cost model: each names its device class, shapes, links and lengths.</summary>
public static class EmulatedCosts
{
    public static CostModel Of(EmulatedDevice device, string? model = null) =>
        new(DeviceClass.Parse(device.DeviceClass), ModelShape.Parse(model ?? device.Model), tensorParallel: device.TensorParallel);

    /// <summary>
    /// The response length an emulated sample reaches: a draw from the job's distribution seeded by the
    /// sample's sampling seed, so any worker (and the analytic prediction) gets the same length.
    /// </summary>
    public static int ResponseLength(LengthDistribution lengths, long samplingSeed, int maxNewTokens) =>
        Math.Min(maxNewTokens, lengths.Sample(Seeds.Random(samplingSeed, 0x1E)));
}
