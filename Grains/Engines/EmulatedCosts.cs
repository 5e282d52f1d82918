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
    /// The response length an emulated sample reaches: the job's length model at its prompt's seed, its
    /// own sampling seed and the weight version it is sampled with, so any worker (and the analytic
    /// prediction) gets the same length.
    /// </summary>
    public static int ResponseLength(LengthModel lengths, long promptSeed, long samplingSeed, int version, int maxNewTokens) =>
        Math.Min(maxNewTokens, lengths.Length(promptSeed, Seeds.Mix(samplingSeed, 0x1E), version));

    public static LengthModel Lengths(EmulatedGenerator generator) =>
        new(LengthDistribution.Parse(generator.Lengths), generator.LengthCorrelation, generator.LengthDrift);
}
