using Orleans.Runtime;
using Orleans.Runtime.Messaging;

namespace Grains.Cluster;

/// <summary>
/// Failures that mean "a silo went away", not "the request is wrong": a call to a grain whose silo died,
/// or a message the runtime could not deliver. The same call succeeds once membership has moved on and the
/// grain is re-activated on a live silo; any other failure is the request's own and is never retried.
/// </summary>
public static class SiloLoss
{
    public static bool Is(Exception error) => error switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException or TimeoutException => true,
        AggregateException aggregate => aggregate.InnerExceptions.All(Is),
        _ => error.InnerException is { } inner && Is(inner),
    };

    /// <summary>How long a caller waits between tries: membership declares a dead silo within a few probe rounds.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>Tries an idempotent call until it succeeds, a failure is not a silo's loss, or <paramref name="attempts"/> are spent.</summary>
    public static async Task<T> Retry<T>(Func<Task<T>> call, int attempts = 30)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (attempt < attempts && Is(e))
            {
                await Task.Delay(RetryDelay);
            }
        }
    }

    public static Task Retry(Func<Task> call, int attempts = 30) => Retry(async () =>
    {
        await call();
        return true;
    }, attempts);
}
