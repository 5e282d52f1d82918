namespace Grains.Interfaces.Cluster;

/// <summary>
/// A device grain that cannot be placed: no live, undrained silo of its role has a device free. A job
/// that lost a worker's silo this way goes on with the workers it has left.
/// </summary>
[GenerateSerializer, Alias("actors.NoFreeDevice")]
public sealed class NoFreeDeviceException : InvalidOperationException
{
    public NoFreeDeviceException(string message) : base(message) { }

    /// <summary>Whether a failure, however wrapped on its way back, was this one.</summary>
    public static bool In(Exception? error) => error switch
    {
        null => false,
        NoFreeDeviceException => true,
        AggregateException a => a.InnerExceptions.Any(In),
        _ => In(error.InnerException),
    };
}
