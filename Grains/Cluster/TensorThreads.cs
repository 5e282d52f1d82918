using TorchSharp;

namespace Grains.Cluster;

/// <summary>
/// How many threads each device's tensor work uses on this silo (Silo:TensorThreads). Unset, libtorch's
/// default: every core for every device. Devices that compute at once on one machine (an asynchronous
/// job's generation workers beside its trainer) then run more threads than there are cores and wait on
/// each other (measured: README, "Wall time"). libtorch's thread count is a thread's own setting, so it is
/// applied on each thread that does a device's work.
/// </summary>
public sealed record TensorThreads(int? PerDevice)
{
    /// <summary>libtorch's default on every device.</summary>
    public static readonly TensorThreads Default = new((int?)null);

    /// <summary>Sets the calling thread's count, when one is configured.</summary>
    public void ApplyHere()
    {
        if (PerDevice is { } threads) torch.set_num_threads(threads);
    }
}
