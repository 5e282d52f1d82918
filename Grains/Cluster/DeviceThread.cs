using System.Collections.Concurrent;
using System.Diagnostics;

namespace Grains.Cluster;

/// <summary>
/// The one thread that does a device grain's tensor work, in order. Grain methods hand work here and
/// await it, so the grain's scheduler never blocks and every dispose scope lives and dies on one
/// thread. Counts the seconds spent working (the device's busy time). Its tensor work uses the silo's
/// <see cref="TensorThreads"/>.
/// </summary>
public sealed class DeviceThread : IDisposable
{
    private readonly BlockingCollection<Action> queue = new();
    private readonly Thread thread;
    private long busyTicks;

    public DeviceThread(string name, TensorThreads threads)
    {
        thread = new Thread(() =>
        {
            threads.ApplyHere();
            foreach (var work in queue.GetConsumingEnumerable()) work();
        }) { IsBackground = true, Name = name };
        thread.Start();
    }

    public Task<T> Run<T>(Func<T> work)
    {
        var done = new TaskCompletionSource<T>(TaskCreationOptions.RunContinuationsAsynchronously);
        queue.Add(() =>
        {
            var started = Stopwatch.GetTimestamp();
            try
            {
                done.SetResult(work());
            }
            catch (Exception e)
            {
                done.SetException(e);
            }
            finally
            {
                Interlocked.Add(ref busyTicks, Stopwatch.GetTimestamp() - started);
            }
        });
        return done.Task;
    }

    public Task Run(Action work) => Run(() =>
    {
        work();
        return true;
    });

    /// <summary>Busy seconds since the last call.</summary>
    public double TakeBusySeconds() => (double)Interlocked.Exchange(ref busyTicks, 0) / Stopwatch.Frequency;

    public void Dispose()
    {
        queue.CompleteAdding();
        if (thread != Thread.CurrentThread) thread.Join();
        queue.Dispose();
    }
}
