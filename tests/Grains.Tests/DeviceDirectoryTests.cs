using Grains.Interfaces.Cluster;
using Grains.Placement;
using Orleans.Core.Internal;

namespace Grains.Tests;

/// <summary>The device directory's leases outlive its activation (its silo's loss).</summary>
[Collection(ClusterCollection.Name)]
public sealed class DeviceDirectoryTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_directory_activated_again_gives_no_one_a_device_its_last_activation_leased()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        SiloDevices[] one = [new(fixture.Cluster.Primary!.SiloAddress.ToParsableString(), ["kept-0"])];
        const string holder = "kept-device/job/d0";
        var held = await calls.Reserve(new LeaseRequest(holder, "training", one, "trainer/job/actor/0"));

        // As when the directory's silo is lost: the next call activates it again, while the holder lives on.
        await directory.Cast<IGrainManagementExtension>().DeactivateOnIdle();
        var intruder = () => calls.Reserve(new LeaseRequest("placed-after/job/d1", "training", one));

        await intruder.Should().ThrowAsync<NoFreeDeviceException>().WithMessage("*no free device*1/1 held*");
        (await calls.Lookup(holder)).Should().Be(held);
        (await directory.Confirm(held, "trainer/job/actor/0")).Should().BeTrue("the holder's confirmation finds its own lease");

        await directory.Release(holder, "trainer/job/actor/0");
        (await intruder()).Device.Should().Be("kept-0", "a device released is free again");
        await directory.Release("placed-after/job/d1");
    }

    [Fact]
    public async Task A_device_is_leased_in_its_silos_order_refused_to_a_second_holder_and_free_again_once_its_holder_moves()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        SiloDevices[] three = [new(silo, ["order-0", "order-1", "order-2"])];

        var first = await calls.Reserve(new LeaseRequest("order/h1", "generation", three));
        var second = await calls.Reserve(new LeaseRequest("order/h2", "generation", three));
        (await calls.Reserve(new LeaseRequest("order/h1", "generation", three))).Should().Be(first, "a holder asking again keeps its device");

        (first.Device, second.Device).Should().Be(("order-0", "order-1"));
        (await directory.Confirm(new DeviceLease("order/h3", "generation", silo, "order-0"))).Should().BeFalse("order-0 is order/h1's");
        (await directory.Confirm(second with { Device = "order-2" })).Should().BeTrue("order-2 is free");
        (await calls.Reserve(new LeaseRequest("order/h4", "generation", three))).Device.Should().Be("order-1", "order/h2 left it for order-2");
        var full = () => calls.Reserve(new LeaseRequest("order/h5", "generation", three));
        await full.Should().ThrowAsync<NoFreeDeviceException>().WithMessage("*3/3 held*");

        foreach (var holder in new[] { "order/h1", "order/h2", "order/h4" }) await directory.Release(holder);
        (await directory.Leases()).Should().NotContain(l => l.Holder.StartsWith("order/"));
    }

    [Fact]
    public async Task Releases_asked_at_once_each_free_their_device_and_a_shared_one_only_with_its_last_member()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        SiloDevices[] four = [new(fixture.Cluster.Primary!.SiloAddress.ToParsableString(), ["leave-0", "leave-1", "leave-2", "leave-3"])];
        var held = await Task.WhenAll(Enumerable.Range(0, 3).Select(k => calls.Reserve(new LeaseRequest($"leave/h{k}", "generation", four, $"leave/worker{k}"))));
        await calls.Reserve(new LeaseRequest("shared-device/leave/d3", "training", four, "leave/actor"));
        await calls.Reserve(new LeaseRequest("shared-device/leave/d3", "training", four, "leave/critic"));

        var freed = await Task.WhenAll(
            [.. held.Select((l, k) => calls.Release(l.Holder, $"leave/worker{k}", SiloMetadataKeys.DefaultDatacenter)),
             calls.Release("shared-device/leave/d3", "leave/actor", SiloMetadataKeys.DefaultDatacenter)]);

        freed.Should().Equal([true, true, true, false], "the shared device keeps its other member");
        (await directory.Leases()).Where(l => l.Holder.Contains("leave/")).Select(l => l.Holder).Should().Equal("shared-device/leave/d3");
        (await calls.Release("shared-device/leave/d3", "leave/critic", SiloMetadataKeys.DefaultDatacenter)).Should().BeTrue("its last member left");
        (await directory.Leases()).Should().NotContain(l => l.Holder.Contains("leave/"));
        (await calls.Reserve(new LeaseRequest("leave/after", "generation", four))).Device.Should().Be("leave-0", "every device is free again");
        await directory.Release("leave/after");
    }

    [Fact]
    public async Task Reservations_asked_at_once_are_answered_each_on_its_own_with_one_device_apiece_until_none_is_free()
    {
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        SiloDevices[] forty = [new(silo, [.. Enumerable.Range(0, 40).Select(d => $"batch-{d}")])];

        var asked = Enumerable.Range(0, 50).Select(h => calls.Reserve(new LeaseRequest($"batch/h{h}", "generation", forty))).ToArray();
        await Task.WhenAll(asked).ContinueWith(_ => { });

        var granted = asked.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result).ToArray();
        granted.Select(l => l.Device).Should().OnlyHaveUniqueItems().And.HaveCount(40);
        asked.Where(t => t.IsFaulted).Should().HaveCount(10).And.OnlyContain(t => t.Exception!.InnerException is NoFreeDeviceException
            && t.Exception.InnerException.Message.Contains("40/40 held"));
        var looked = await Task.WhenAll(granted.Select(l => calls.Lookup(l.Holder)));
        looked.Should().Equal(granted);
        (await calls.Lookup("batch/never")).Should().BeNull();

        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        foreach (var lease in granted) await directory.Release(lease.Holder);
    }

    [Fact]
    public async Task A_device_released_amid_held_ones_is_the_next_leased_and_another_order_of_the_list_is_searched_in_its_own_order()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        string[] ten = [.. Enumerable.Range(0, 10).Select(d => $"amid-{d}")];
        SiloDevices[] inOrder = [new(silo, ten)];

        var first = await Task.WhenAll(Enumerable.Range(0, 5).Select(h => calls.Reserve(new LeaseRequest($"amid/h{h}", "generation", inOrder))));
        first.Select(l => l.Device).Order().Should().Equal("amid-0", "amid-1", "amid-2", "amid-3", "amid-4");
        await directory.Release(first.Single(l => l.Device == "amid-2").Holder);

        (await calls.Reserve(new LeaseRequest("amid/h5", "generation", inOrder))).Device.Should().Be("amid-2", "the first free device in the silo's order");
        (await calls.Reserve(new LeaseRequest("amid/h6", "generation", inOrder))).Device.Should().Be("amid-5");
        (await calls.Reserve(new LeaseRequest("amid/h7", "generation", [new(silo, [.. ten.Reverse()])]))).Device.Should().Be("amid-9");

        foreach (var lease in (await directory.Leases()).Where(l => l.Holder.StartsWith("amid/"))) await directory.Release(lease.Holder);
    }

    [Fact]
    public async Task A_lease_reserved_here_is_handed_to_its_own_grain_once_on_its_own_silo_and_only_within_the_window()
    {
        var clock = new SetClock();
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory, clock);
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        SiloDevices[] one = [new(silo, ["handed-0"])];
        var ask = () => calls.Reserve(new LeaseRequest("handed/h", "generation", one, "worker/handed/0"));

        var lease = await ask();
        calls.TakeReserved("worker/handed/1", silo).Should().BeNull("it was reserved for another grain");
        calls.TakeReserved("worker/handed/0", silo).Should().Be(lease);
        calls.TakeReserved("worker/handed/0", silo).Should().BeNull("a lease is handed over once; a later activation asks the directory");

        await ask();
        calls.TakeReserved("worker/handed/0", "another-silo").Should().BeNull("the grain activated elsewhere than its lease");
        calls.TakeReserved("worker/handed/0", silo).Should().BeNull("the entry went with the first look");

        await ask();
        clock.Now += TimeSpan.FromSeconds(31);
        calls.TakeReserved("worker/handed/0", silo).Should().BeNull("past the window the grain may have come and gone");
        (await calls.Lookup("handed/h")).Should().Be(lease, "the directory still holds it for its holder");

        // A lease reserved for a grain that activates on another silo is never taken here: it is dropped once past the window.
        await ask();
        calls.Reserved.Should().Be(1);
        clock.Now += TimeSpan.FromSeconds(31);
        await calls.Reserve(new LeaseRequest("handed/h2", "generation", [new(silo, ["handed-1"])], "worker/handed/2"));
        calls.Reserved.Should().Be(1, "worker/handed/0's old reservation went; worker/handed/2's is new");
        calls.TakeReserved("worker/handed/2", silo).Should().NotBeNull();
        await fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter).Release("handed/h2", "worker/handed/2");

        await fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter).Release("handed/h", "worker/handed/0");
    }

    private sealed class SetClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 12, 4, 0, 0, 0, TimeSpan.Zero);

        public override DateTimeOffset GetUtcNow() => Now;
    }
}
