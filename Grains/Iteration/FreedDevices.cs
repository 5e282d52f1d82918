using Grains.Iteration.Policies;

namespace Grains.Iteration;

/// <summary>
/// When each device of a colocated step is free to train (every sample is dealt, its worker holds none left to
/// generate, and no generated sample waits to be scored or is being scored on it), and when the whole step is
/// generated: what training on the devices a step's tail leaves waits for (rl.trainEarly). Scoring goes first
/// because a device taking turns at scoring and training pays a role switch at each turn (measured on the 65B
/// PPO set-up: freed devices switching every second or so lost most of what training early gained). Devices
/// are the job's worker indices (a colocated job's replica r shares device r with worker r). Once freed, a
/// device stays freed for the step: work sent there later (a tail sample to score, a lost worker's sample)
/// queues behind what the device was given. While a device works through a mini-batch's chunks it is not sent
/// scoring either (<see cref="Training"/>): samples the tail ends meanwhile wait for a device that is not training, or
/// for the training devices to run out of chunks, and are scored together (measured on the 65B PPO set-up: freed
/// devices given each tail sample to score as it ended switched roles twice a sample, 0.7 s a switch pair against
/// 0.5 s of training a chunk).
/// </summary>
public sealed class FreedDevices
{
    private readonly TaskCompletionSource[] freed;
    private readonly TaskCompletionSource generated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool[] training;

    /// <summary>Raised when a device stops training (it found no chunk left): samples waiting to be scored may go there now.</summary>
    public event Action? TrainingPaused;

    /// <param name="devices">The job's devices (its workers).</param>
    /// <param name="generating">The job indices of the step's workers; the other devices have nothing of the step to generate.</param>
    public FreedDevices(int devices, IEnumerable<int> generating)
    {
        freed = [.. Enumerable.Range(0, devices).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously))];
        training = new bool[devices];
        var busy = generating.ToHashSet();
        for (var d = 0; d < devices; d++) if (!busy.Contains(d)) freed[d].TrySetResult();
    }

    /// <summary>Done once device <paramref name="device"/> has nothing of the step left to generate (at once for a device the job does not have).</summary>
    public Task Freed(int device) => device >= 0 && device < freed.Length ? freed[device].Task : Task.CompletedTask;

    /// <summary>Done once every sample of the step is generated (or the rollout ended).</summary>
    public Task AllGenerated => generated.Task;

    /// <summary>
    /// Frees the devices whose workers the state shows done and that <paramref name="scoring"/> says have no scoring
    /// of theirs waiting; <paramref name="device"/> maps the step's worker to its device.
    /// </summary>
    public void Note(RolloutState state, Func<int, int> device, Func<int, bool> scoring)
    {
        if (state.AllGenerated)
        {
            Release();
            return;
        }
        // A worker with nothing now may still be dealt more (pull dispatch deals as workers free).
        if (state.DispatchedCount < state.Samples) return;
        for (var w = 0; w < state.Workers; w++)
        {
            if (state.Load(w) == 0 && !scoring(w) && device(w) is var d && d >= 0 && d < freed.Length) freed[d].TrySetResult();
        }
    }

    /// <summary>Whether device <paramref name="device"/> is working through a mini-batch's chunks now.</summary>
    public bool Training(int device) => device >= 0 && device < training.Length && training[device];

    /// <summary>Device <paramref name="device"/> begins taking a mini-batch's chunks, or has found none left (or was lost).</summary>
    public void Train(int device, bool busy)
    {
        if (device < 0 || device >= training.Length || training[device] == busy) return;
        training[device] = busy;
        if (!busy) TrainingPaused?.Invoke();
    }

    /// <summary>Every device free: the step's generation is over, or its rollout ended and nothing waits on it.</summary>
    public void Release()
    {
        foreach (var f in freed) f.TrySetResult();
        generated.TrySetResult();
    }
}
