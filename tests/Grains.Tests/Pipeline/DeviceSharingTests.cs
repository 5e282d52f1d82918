using Grains.Interfaces.Cluster;
using Grains.Pipeline;
using Grains.Placement;

namespace Grains.Tests.Pipeline;

/// <summary>Two stage grains on one device: one lease held by both, and one pass at a time in the device's order.</summary>
[Collection(ClusterCollection.Name)]
public sealed class DeviceSharingTests(ClusterFixture fixture)
{
    [Fact]
    public async Task A_shared_device_stays_held_until_its_last_member_leaves()
    {
        var directory = fixture.Cluster.GrainFactory.GetGrain<IDevicePartitionGrain>(SiloMetadataKeys.DefaultDatacenter);
        var calls = new LeaseCalls(fixture.Cluster.GrainFactory);
        var silo = fixture.Cluster.Primary!.SiloAddress.ToParsableString();
        SiloDevices[] candidates = [new(silo, ["shared-0"])];
        const string holder = "shared-device/sharing/d0";

        var first = await calls.Reserve(new LeaseRequest(holder, "training", candidates, "stage-actor"));
        var second = await calls.Reserve(new LeaseRequest(holder, "training", candidates, "stage-critic"));
        var other = () => calls.Reserve(new LeaseRequest("someone-else", "training", candidates));

        second.Should().Be(first, "both members hold the holder's one lease");
        await other.Should().ThrowAsync<InvalidOperationException>().WithMessage("*no free device*");
        await directory.Release(holder, "stage-actor");
        (await calls.Lookup(holder)).Should().Be(first, "the critic's stage still uses the device");
        await directory.Release(holder, "stage-critic");
        (await calls.Lookup(holder)).Should().BeNull();
        (await calls.Reserve(new LeaseRequest("someone-else", "training", candidates))).Device.Should().Be("shared-0");
        await directory.Release("someone-else");
    }

    [Fact]
    public async Task Passes_run_in_the_devices_order_whoever_asks_first()
    {
        var turns = new DeviceTurns();
        var ran = new List<int>();
        async Task Pass(int place)
        {
            await turns.WaitFor("d0", 1, place);
            ran.Add(place);
            turns.Done("d0", 1, place);
        }

        var late = Pass(2);
        var middle = Pass(1);
        late.IsCompleted.Should().BeFalse("place 2 waits for places 0 and 1");
        await Pass(0);
        await Task.WhenAll(late, middle);

        ran.Should().Equal(0, 1, 2);
        ((Action)(() => turns.Done("d0", 1, 5))).Should().Throw<InvalidOperationException>().WithMessage("d0: place 5 of step 1 ended while place 3 was due");
        var stuck = turns.WaitFor("d0", 1, 4);
        turns.Abort("d0", 1, new InvalidOperationException("stage failed"));
        await ((Func<Task>)(() => stuck)).Should().ThrowAsync<InvalidOperationException>().WithMessage("stage failed");
        await ((Func<Task>)(() => turns.WaitFor("d0", 0, 0))).Should().ThrowAsync<InvalidOperationException>().WithMessage("*step 0 is older than step 1*");
    }

    [Fact]
    public async Task A_device_set_up_again_runs_steps_it_ran_before()
    {
        // A job back at its checkpoint after a silo's loss repeats steps 2 and 3 on a device that survived.
        var turns = new DeviceTurns();
        await turns.WaitFor("d0", 3, 0);
        turns.Done("d0", 3, 0);
        var waiting = turns.WaitFor("d0", 3, 2);

        turns.Forget("d0");

        await ((Func<Task>)(() => waiting)).Should().ThrowAsync<InvalidOperationException>().WithMessage("d0: set up again while step 3 waited");
        turns.WaitFor("d0", 2, 0).IsCompletedSuccessfully.Should().BeTrue("step 2 runs again from its first place");
        turns.Done("d0", 2, 0);
        await turns.WaitFor("d0", 2, 1);
    }
}
