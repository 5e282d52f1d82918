namespace Grains.Interfaces.Cluster;

/// <summary>
/// A grain that cannot be placed because no live silo serves its role: its last one was lost or stopped.
/// A silo's loss, not a bad request: callers wait a while for a silo of the role to join (a supervisor
/// restarting the lost process, an admin adding one) before they give up.
/// </summary>
[GenerateSerializer, Alias("actors.NoSiloForRole")]
public sealed class NoSiloForRoleException : InvalidOperationException
{
    public NoSiloForRoleException(string message) : base(message) { }

    /// <summary>Whether a failure, however wrapped on its way back, was this one.</summary>
    public static bool In(Exception? error) => error switch
    {
        null => false,
        NoSiloForRoleException => true,
        AggregateException a => a.InnerExceptions.Any(In),
        _ => In(error.InnerException),
    };
}
