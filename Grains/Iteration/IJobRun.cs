namespace Grains.Iteration;

/// <summary>What a job grain runs for a training job (RL or DPO): its iterations, then its devices given back.</summary>
public interface IJobRun
{
    /// <summary>Runs the job to its last iteration or until cancelled: afresh, from its latest checkpoint, or (recovering) from the latest if there is one.</summary>
    Task RunAsync(RunStart from, Action<int, string> progress, CancellationToken cancellation);

    /// <summary>Gives the job's devices back.</summary>
    Task ReleaseDevices();
}
