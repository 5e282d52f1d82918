using System.Collections.Concurrent;
using Grains.Interfaces.Cluster;

namespace Grains.Placement;

/// <summary>
/// A silo's reservations and look-ups of device leases, sent to each datacenter's device partition together:
/// the first goes at once, and those asked while a call is under way go in the next, as one message (and one
/// ledger write). Measured: a pool of 2,048 grains placed at once sent the directory 4,096 messages, and
/// most of the time went on their contention for its activation.
/// A lease this silo reserved for a grain is also kept here until that grain activates, so an activation
/// on the silo that placed it takes its lease without asking the partition again.
/// </summary>
public sealed class LeaseCalls(IGrainFactory grains, TimeProvider clock)
{
    /// <summary>How long a reserved lease waits here for its grain's activation; after that the activation asks the partition.</summary>
    private static readonly TimeSpan HandOverWithin = TimeSpan.FromSeconds(30);

    private readonly ConcurrentDictionary<string, Batches<LeaseRequest, LeaseAnswer>> reservations = new();
    private readonly ConcurrentDictionary<string, Batches<string, DeviceLease?>> lookups = new();
    private readonly ConcurrentDictionary<string, Batches<LeaseRelease, bool>> releases = new();
    private readonly ConcurrentDictionary<string, (DeviceLease Lease, DateTimeOffset At)> reserved = new();
    // When reservations past the window were last dropped: a grain placed from here onto another silo never
    // takes its lease here, so without this a long-lived silo would keep one for every such placement.
    private DateTimeOffset pruned = DateTimeOffset.MinValue;

    public LeaseCalls(IGrainFactory grains) : this(grains, TimeProvider.System) { }

    /// <summary>
    /// A device for the request's holder among its candidates: from their datacenter's partition, or, when they
    /// span datacenters, from the one that already holds the holder's lease (a shared device's next member), then
    /// from each in turn, the one declaring the most devices first, until one has a free device.
    /// </summary>
    public async Task<DeviceLease> Reserve(LeaseRequest request)
    {
        var byDatacenter = request.Candidates.GroupBy(c => c.Datacenter).ToArray();
        LeaseAnswer answer;
        if (byDatacenter.Length == 1)
        {
            answer = await Ask(byDatacenter[0].Key, request);
        }
        else
        {
            var held = await Task.WhenAll(byDatacenter.Select(d => Lookup(request.Holder, d.Key)));
            var refusals = new List<string>();
            answer = new LeaseAnswer(null, $"cannot place {request.Holder}: no candidate silo for the '{request.Role}' role");
            foreach (var (datacenter, k) in byDatacenter.Select((d, k) => (d, k))
                .OrderByDescending(x => held[x.k] is not null).ThenByDescending(x => x.d.Sum(c => c.Devices.Count)).ThenBy(x => x.d.Key, StringComparer.Ordinal))
            {
                answer = await Ask(datacenter.Key, request with { Candidates = [.. datacenter] });
                if (answer.Lease is not null) break;
                refusals.Add($"{datacenter.Key}: {answer.Refusal}");
            }
            if (answer.Lease is null && refusals.Count > 0) answer = new LeaseAnswer(null, string.Join("; ", refusals));
        }
        var lease = answer.Lease ?? throw new NoFreeDeviceException(answer.Refusal!);
        var now = clock.GetUtcNow();
        if (request.Member is { } member) reserved[member] = (lease, now);
        if (now - pruned > HandOverWithin)
        {
            pruned = now;
            foreach (var (key, kept) in reserved) if (now - kept.At > HandOverWithin) reserved.TryRemove(key, out _);
        }
        return lease;
    }

    // A datacenter's batches keep its partition's reference: resolving one (GetGrain) took a tenth of the
    // placing silo's time when each request did it (measured, placement-bench).
    private Task<LeaseAnswer> Ask(string datacenter, LeaseRequest request) =>
        reservations.GetOrAdd(datacenter, d => new(Partition(d).ReserveAll)).Ask(request);

    private IDevicePartitionGrain Partition(string datacenter) => grains.GetGrain<IDevicePartitionGrain>(datacenter);

    /// <summary>Leases reserved here and not yet taken by their grains (nor dropped past the window).</summary>
    public int Reserved => reserved.Count;

    /// <summary>
    /// The lease this silo reserved for <paramref name="member"/> on <paramref name="silo"/> moments ago, taken
    /// (a later activation asks the partition), or null: none, one on another silo, or one older than the
    /// hand-over window (the grain may have come and gone since).
    /// </summary>
    public DeviceLease? TakeReserved(string member, string silo) =>
        reserved.TryRemove(member, out var r) && r.Lease.Silo == silo && clock.GetUtcNow() - r.At <= HandOverWithin ? r.Lease : null;

    /// <summary>The holder's lease in <paramref name="datacenter"/>'s partition, or null.</summary>
    public Task<DeviceLease?> Lookup(string holder, string datacenter = SiloMetadataKeys.DefaultDatacenter) =>
        lookups.GetOrAdd(datacenter, d => new(Partition(d).LookupAll)).Ask(holder);

    /// <summary>
    /// The holder (or one member of a shared holder) leaves its device in <paramref name="datacenter"/>'s partition;
    /// true when the device is free now. Measured: 2,048 grains vacated at once, each releasing on its own,
    /// spent most of their time waiting on the partition activation's message lock.
    /// </summary>
    public Task<bool> Release(string holder, string? member, string datacenter) =>
        releases.GetOrAdd(datacenter, d => new(Partition(d).ReleaseAll)).Ask(new LeaseRelease(holder, member));

    /// <summary>Requests gathered while a call for earlier ones is under way; a failed call fails every request it carried.</summary>
    private sealed class Batches<TRequest, TAnswer>(Func<TRequest[], Task<TAnswer[]>> call)
    {
        private readonly Lock gate = new();
        private List<(TRequest Request, TaskCompletionSource<TAnswer> Answer)> waiting = [];
        private bool sending;

        public Task<TAnswer> Ask(TRequest request)
        {
            var answer = new TaskCompletionSource<TAnswer>(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (gate)
            {
                waiting.Add((request, answer));
                if (sending) return answer.Task;
                sending = true;
            }
            // Sent from the thread pool, not from the asking grain's context (a grain's turns would run its
            // continuations), and with no request context of the first asker's.
            using (ExecutionContext.SuppressFlow()) _ = Task.Run(Send);
            return answer.Task;
        }

        private async Task Send()
        {
            while (true)
            {
                List<(TRequest Request, TaskCompletionSource<TAnswer> Answer)> batch;
                lock (gate)
                {
                    if (waiting.Count == 0)
                    {
                        sending = false;
                        return;
                    }
                    (batch, waiting) = (waiting, []);
                }
                try
                {
                    var answers = await call([.. batch.Select(b => b.Request)]);
                    for (var i = 0; i < batch.Count; i++) batch[i].Answer.SetResult(answers[i]);
                }
                catch (Exception e)
                {
                    foreach (var b in batch) b.Answer.SetException(e);
                }
            }
        }
    }
}
