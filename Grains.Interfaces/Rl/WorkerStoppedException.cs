namespace Grains.Interfaces.Rl;

/// <summary>
/// A generation worker that admits nothing more: a weights version failed to load on it (a corrupt or
/// missing object, named in the message). Its job sends its samples to the other workers and goes on.
/// </summary>
[GenerateSerializer, Alias("actors.WorkerStopped")]
public sealed class WorkerStoppedException : InvalidOperationException
{
    public WorkerStoppedException(string message) : base(message) { }

    /// <summary>Whether a failure, however wrapped on its way back, was this one.</summary>
    public static bool In(Exception? error) => error switch
    {
        null => false,
        WorkerStoppedException => true,
        AggregateException a => a.InnerExceptions.Any(In),
        _ => In(error.InnerException),
    };
}
