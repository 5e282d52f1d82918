using Grains.Interfaces.Cluster;
using Orleans.Core.Internal;

namespace Grains.Tests;

/// <summary>The device directory's leases outlive its activation (its silo's loss).</summary>
[Collection(ClusterCollection.Name)]
public sealed class DeviceDirectoryTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_directory_activated_again_gives_no_one_a_device_its_last_activation_leased()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDeviceDirectoryGrain>(0);
        SiloDevices[] one = [new(fixture.Cluster.Primary!.SiloAddress.ToParsableString(), ["kept-0"])];
        const string holder = "kept-device/job/d0";
        var held = await directory.Reserve(holder, "training", one, "trainer/job/actor/0");

        // As when the directory's silo is lost: the next call activates it again, while the holder lives on.
        await directory.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var intruder = () => directory.Reserve("placed-after/job/d1", "training", one);

        await intruder.Should().ThrowAsync<NoFreeDeviceException>().WithMessage("*no free device*1/1 held*");
        (await directory.Lookup(holder)).Should().Be(held);
        (await directory.Confirm(held, "trainer/job/actor/0")).Should().BeTrue("the holder's confirmation finds its own lease");

        await directory.Release(holder, "trainer/job/actor/0");
        (await intruder()).Device.Should().Be("kept-0", "a device released is free again");
        await directory.Release("placed-after/job/d1");
    }
}
