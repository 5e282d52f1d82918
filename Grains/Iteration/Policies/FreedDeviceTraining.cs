namespace Grains.Iteration.Policies;

/// <summary>
/// Who computes which chunk of a mini-batch's gradient when the replicas' devices free one by one (rl.trainEarly):
/// each replica waits until it is ready (its device free, the steps before applied), then takes the next chunk not
/// yet taken until none is left, so the devices a step's tail leaves work through the mini-batch while it generates
/// and the tail's devices join as they finish. A replica lost with its silo (computing, or getting ready) takes nothing
/// more, and the chunk it held goes to a survivor; with none left, the loss goes up (the job replays from its checkpoint).
/// </summary>
public static class FreedDeviceTraining
{
    /// <summary>
    /// Computes chunks 0..<paramref name="chunks"/>-1 on <paramref name="replicas"/> replicas; replica r begins once
    /// <paramref name="freed"/>(r) is done (a loss there leaves it out). Returns the replica that computed each chunk.
    /// </summary>
    /// <param name="compute">Computes chunk c on replica r: compute(r, c).</param>
    /// <param name="lost">Whether a failure is the replica's silo lost (any other failure is the step's own and goes up).</param>
    /// <param name="busy">Told busy(r, true) when replica r takes its first chunk, busy(r, false) when it takes no more (none left, or lost).</param>
    public static async Task<int[]> Run(int replicas, int chunks, Func<int, Task> freed, Func<int, int, Task> compute, Func<Exception, bool> lost,
        Action<int, bool>? busy = null)
    {
        if (replicas < 1) throw new ArgumentOutOfRangeException(nameof(replicas), replicas, "a step needs at least one replica");
        var by = Enumerable.Repeat(-1, chunks).ToArray();
        var next = 0;
        var retry = new Queue<int>();
        var gate = new Lock();
        var alive = Enumerable.Repeat(true, replicas).ToArray();
        // Replicas told busy: each is told idle once it takes no more.
        var told = new bool[replicas];
        Exception? firstLoss = null;
        var done = 0;
        // Every chunk computed: replicas still waiting for their device are not waited for (they find nothing left).
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (chunks == 0) allDone.SetResult();

        int? Take()
        {
            lock (gate)
            {
                if (retry.Count > 0) return retry.Dequeue();
                return next < chunks ? next++ : null;
            }
        }

        async Task Replica(int r)
        {
            try
            {
                await freed(r);
            }
            catch (Exception e) when (lost(e))
            {
                lock (gate)
                {
                    alive[r] = false;
                    firstLoss ??= e;
                }
                return;
            }
            try
            {
                await Work(r);
            }
            finally
            {
                if (told[r]) busy?.Invoke(r, false);
            }
        }

        async Task Work(int r)
        {
            while (Take() is { } c)
            {
                if (!told[r]) busy?.Invoke(r, told[r] = true);
                try
                {
                    await compute(r, c);
                    lock (gate)
                    {
                        by[c] = r;
                        if (++done == chunks) allDone.TrySetResult();
                    }
                }
                catch (Exception e) when (lost(e))
                {
                    lock (gate)
                    {
                        retry.Enqueue(c);
                        alive[r] = false;
                        firstLoss ??= e;
                    }
                    return;
                }
            }
        }

        var running = Task.WhenAll(Enumerable.Range(0, replicas).Select(Replica));
        // A step's own failure (not a loss) goes up at once.
        if (await Task.WhenAny(running, allDone.Task) == running) await running;
        else _ = running.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted);
        // A chunk given back after every other replica had stopped taking: the survivors (every replica still alive is
        // ready by now, since all of them have stopped) compute it in turn.
        foreach (var c in Enumerable.Range(0, chunks).Where(c => by[c] < 0))
        {
            while (by[c] < 0)
            {
                var survivor = Array.IndexOf(alive, true);
                if (survivor < 0) throw firstLoss!;
                try
                {
                    await compute(survivor, c);
                    by[c] = survivor;
                }
                catch (Exception e) when (lost(e))
                {
                    alive[survivor] = false;
                }
            }
        }
        return by;
    }
}
