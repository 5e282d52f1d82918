using Grains.Interfaces.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Runtime;
using Orleans.Runtime.Messaging;
using Orleans.Serialization;
using Polly.Timeout;

namespace Grains.Cluster;

/// <summary>
/// Failures that mean "a silo went away", not "the request is wrong": a call to a grain whose silo died,
/// a message the runtime could not deliver, or a device grain re-activated without its job's state
/// (<see cref="StateLostException"/>), or a grain whose role has no live silo left (<see cref="NoSiloForRoleException"/>,
/// until one joins), or a call the runtime cancelled (a grain directory lookup cancelled as the silo owning
/// its partition went: no grain call of this project passes a caller's cancellation token, so a cancelled
/// call is the runtime's; measured, an audit's question to a worker failed so and failed the job). The same
/// call succeeds once membership has moved on and the grain
/// is re-activated on a live silo (and given its state again); any other failure is the request's own
/// and is never retried. A grain placement that timed out (Orleans runs placement through a Polly timeout,
/// <see cref="TimeoutRejectedException"/>) is one too: measured in a chaos run, a call placed while the
/// killed silo still owned its directory partition waited out the placement timeout and failed the client.
/// </summary>
public static class SiloLoss
{
    public static bool Is(Exception error) => error switch
    {
        SiloUnavailableException or OrleansMessageRejectionException or ConnectionFailedException or TimeoutException or StateLostException
            or NoSiloForRoleException or OperationCanceledException or TimeoutRejectedException => true,
        AggregateException aggregate => aggregate.InnerExceptions.All(Is),
        _ => error.InnerException is { } inner && Is(inner),
    };

    /// <summary>How long a caller waits between tries.</summary>
    public static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long a caller goes on trying: membership declares a silo that died without a word dead after a
    /// few missed probe rounds (tens of seconds with the default probes), and only then do its grains
    /// activate elsewhere.
    /// </summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Tries an idempotent grain call until it succeeds, a failure is not a silo's loss, or
    /// <see cref="RetryFor"/> has passed. The call is given no cancellation token of the caller's, so its
    /// cancellation is the runtime's: a grain directory lookup cancelled as the silo that owned its
    /// partition went (measured: a sample's report lost that way, and the sample generated again).
    /// </summary>
    public static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        var deadline = DateTime.UtcNow + RetryFor;
        while (true)
        {
            try
            {
                return await call();
            }
            catch (Exception e) when (DateTime.UtcNow < deadline && Is(e))
            {
                await Task.Delay(RetryDelay);
            }
        }
    }

    /// <summary>
    /// Gives a device grain's device back. One lost with its silo and not placed again (no device free for
    /// it, or no silo of its role) holds nothing: calling it would place it only to vacate it, so its
    /// failure to place is no failure here.
    /// </summary>
    public static async Task Vacate(IDeviceGrain grain)
    {
        try
        {
            await grain.Vacate();
        }
        catch (Exception e) when (Is(e) || NoFreeDeviceException.In(e))
        {
        }
    }

    public static Task Retry(Func<Task> call) => Retry(async () =>
    {
        await call();
        return true;
    });

    /// <summary>
    /// Lets the runtime's own loss failures cross the wire as themselves. Orleans serializes exceptions of
    /// the namespaces it knows (System, Microsoft, Orleans, Azure); a placement timeout is Polly's, and
    /// without its namespace the caller got "could not find a codec for TimeoutRejectedException" instead:
    /// not a loss, so the call was not tried again. Silos and clients both call this.
    /// </summary>
    public static IServiceCollection AddLossExceptions(this IServiceCollection services) =>
        services.Configure<ExceptionSerializationOptions>(o => o.SupportedNamespacePrefixes.Add(typeof(TimeoutRejectedException).Namespace!.Split('.')[0]));
}
