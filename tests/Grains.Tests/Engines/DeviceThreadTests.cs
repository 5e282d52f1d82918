using Grains.Cluster;
using TorchSharp;

namespace Grains.Tests.Engines;

public sealed class DeviceThreadTests
{
    [Fact]
    public async Task A_devices_tensor_work_uses_the_silos_thread_count_and_threads_that_have_one_keep_it()
    {
        using var earlier = new DeviceThread("threads-earlier", TensorThreads.Default);
        var before = await earlier.Run(torch.get_num_threads);
        var configured = before == 1 ? 2 : 1;
        try
        {
            using var set = new DeviceThread("threads-set", new TensorThreads(configured));
            (await set.Run(torch.get_num_threads)).Should().Be(configured);
            (await earlier.Run(torch.get_num_threads)).Should().Be(before, "a thread that has its count keeps it");

            // libtorch gives a new thread the last count set (so the silo also applies its own at start).
            using var later = new DeviceThread("threads-later", TensorThreads.Default);
            (await later.Run(torch.get_num_threads)).Should().Be(configured);
        }
        finally
        {
            // Other tests' new threads take the count last set: theirs again.
            await earlier.Run(() => torch.set_num_threads(before));
        }
    }
}
