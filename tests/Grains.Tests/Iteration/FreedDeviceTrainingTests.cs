using FluentAssertions;
using Grains.Iteration.Policies;

namespace Grains.Tests.Iteration;

public class FreedDeviceTrainingTests
{
    private sealed class Lost(string message) : Exception(message);

    [Fact]
    public async Task Replicas_take_chunks_only_once_their_device_is_freed_and_each_chunk_is_computed_once()
    {
        var freed = new[] { new TaskCompletionSource(), new TaskCompletionSource() };
        var computed = new List<(int Replica, int Chunk)>();
        var gate = new TaskCompletionSource();
        freed[0].SetResult();

        async Task Compute(int r, int c)
        {
            lock (computed) computed.Add((r, c));
            // Replica 0's third chunk waits until replica 1 has joined, so that it has chunks left to take.
            if (r == 0 && c == 2) await gate.Task;
        }

        var run = FreedDeviceTraining.Run(2, 6, r => freed[r].Task, Compute, e => e is Lost);
        computed.Should().Equal([(0, 0), (0, 1), (0, 2)], "only replica 0's device is free, and it takes the chunks in order");

        freed[1].SetResult();
        gate.SetResult();
        var by = await run;

        computed.Select(x => x.Chunk).Should().BeEquivalentTo([0, 1, 2, 3, 4, 5], "every chunk once");
        by.Should().HaveCount(6);
        by.Take(3).Should().OnlyContain(r => r == 0);
        by.Should().Contain(1, "replica 1 took chunks once its device was freed");
        computed.Where(x => x.Replica == 1).Should().OnlyContain(x => x.Chunk >= 3);
    }

    [Fact]
    public async Task A_replica_is_told_busy_before_its_first_chunk_and_idle_once_it_takes_no_more()
    {
        var events = new List<string>();
        var gate = new TaskCompletionSource();
        async Task Compute(int r, int c)
        {
            lock (events) events.Add($"compute {r}:{c}");
            // Replica 0's first chunk lasts until replica 1 has taken the rest: replica 1 runs out of chunks first.
            if (r == 0) await gate.Task;
        }
        void Busy(int r, bool busy)
        {
            lock (events) events.Add($"{(busy ? "busy" : "idle")} {r}");
        }

        var run = FreedDeviceTraining.Run(2, 4, _ => Task.CompletedTask, Compute, e => e is Lost, Busy);
        events.Should().Equal("busy 0", "compute 0:0", "busy 1", "compute 1:1", "compute 1:2", "compute 1:3", "idle 1");
        gate.SetResult();
        await run;

        events.Should().EndWith("idle 0", "replica 0 finds no chunk left after its first");
        events.Should().ContainSingle(e => e == "busy 0").And.ContainSingle(e => e == "idle 0", "told once each way, not around every chunk");
    }

    [Fact]
    public async Task A_replica_that_finds_no_chunk_left_is_never_told_busy()
    {
        var events = new List<string>();
        var never = new TaskCompletionSource();
        var late = new TaskCompletionSource();

        var run = FreedDeviceTraining.Run(2, 2, r => r == 0 ? Task.CompletedTask : late.Task, (_, _) => Task.CompletedTask, e => e is Lost,
            (r, busy) => events.Add($"{(busy ? "busy" : "idle")} {r}"));
        await run;
        late.SetResult();
        await Task.Yield();

        events.Should().Equal("busy 0", "idle 0");
    }

    [Fact]
    public async Task Once_every_chunk_is_computed_a_replica_still_waiting_for_its_device_is_not_waited_for()
    {
        var never = new TaskCompletionSource();

        var by = await FreedDeviceTraining.Run(2, 3, r => r == 0 ? Task.CompletedTask : never.Task, (_, _) => Task.CompletedTask, e => e is Lost);

        by.Should().Equal(0, 0, 0);
    }

    [Fact]
    public async Task A_replica_lost_mid_chunk_takes_no_more_and_its_chunk_is_computed_by_a_survivor()
    {
        var computed = new List<(int Replica, int Chunk)>();
        var tried = new List<int>();
        var gate = new TaskCompletionSource();
        async Task Compute(int r, int c)
        {
            if (r == 1)
            {
                lock (tried) tried.Add(c);
                await Task.Yield();
                throw new Lost("replica 1's silo was killed");
            }
            // Replica 0 holds chunk 0 until replica 1 has failed its own.
            if (c == 0) await gate.Task;
            lock (computed) computed.Add((r, c));
        }

        var run = FreedDeviceTraining.Run(2, 4, _ => Task.CompletedTask, Compute, e => e is Lost);
        tried.Should().Equal([1], "replica 1 took the chunk after replica 0's (its chunk is given back later or at once; the outcome is the same)");
        gate.SetResult();
        var by = await run;

        tried.Should().Equal([1], "a lost replica takes nothing more");
        computed.Select(x => x.Chunk).Should().BeEquivalentTo([0, 1, 2, 3]);
        computed.Should().OnlyContain(x => x.Replica == 0);
        by.Should().Equal(0, 0, 0, 0);
    }

    [Fact]
    public async Task With_every_replica_lost_the_loss_goes_up_and_another_failure_is_the_steps_own()
    {
        var allLost = () => FreedDeviceTraining.Run(2, 3, _ => Task.CompletedTask, (r, _) => Task.FromException(new Lost($"replica {r} lost")), e => e is Lost);
        var broken = () => FreedDeviceTraining.Run(2, 3, _ => Task.CompletedTask, (_, _) => Task.FromException(new InvalidOperationException("a bad row")), e => e is Lost);

        await allLost.Should().ThrowAsync<Lost>();
        await broken.Should().ThrowAsync<InvalidOperationException>().WithMessage("a bad row");
    }
}
