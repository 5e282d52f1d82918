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
/// 0.5 s of training a chunk). Near the step's end one device done generating is kept to score its last samples
/// (<see cref="Scorer"/>).
/// </summary>
public sealed class FreedDevices
{
    private readonly TaskCompletionSource[] freed;
    private readonly TaskCompletionSource generated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly bool[] training;
    private int? scorer;

    /// <summary>The devices done generating from which one is kept to score the step's last samples.</summary>
    public const int ScorerFrom = 8;

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
    /// Frees the devices whose workers the state shows done and that have no scoring of theirs in flight
    /// (<paramref name="scoringOn"/>), while no sample waits for a device to score it (<paramref name="waiting"/>);
    /// <paramref name="device"/> maps the step's worker to its device. Once the step is generated, every device is freed
    /// as soon as it has scored what it was given: the step's last mini-batch waits for those samples, and a device
    /// that began training first would hold them behind its chunk (measured on the 65B PPO set-up: the last sample's
    /// scoring queued behind a chunk held every device 0.8 s).
    /// </summary>
    public void Note(RolloutState state, Func<int, int> device, bool waiting, Func<int, bool> scoringOn)
    {
        var all = state.AllGenerated;
        if (all) generated.TrySetResult();
        // A worker with nothing now may still be dealt more (pull dispatch deals as workers free).
        else if (state.DispatchedCount < state.Samples) return;
        var generating = Enumerable.Range(0, state.Workers).Count(w => state.Load(w) > 0);
        for (var w = 0; w < state.Workers; w++)
        {
            if (state.Load(w) > 0 || device(w) is not (var d and >= 0) || d >= freed.Length || freed[d].Task.IsCompleted) continue;
            // Once one worker at most still generates, the next device done generating stays a scorer until the step is
            // generated: the step's last samples are then scored at once, where a device called back from training would
            // switch roles first while every device waited for the last mini-batch. Not with few devices, where the one
            // kept from training is a larger share of them than that wait.
            if (!all && scorer is null && generating <= 1 && state.Workers - generating >= ScorerFrom)
            {
                scorer = d;
                continue;
            }
            if (scoringOn(w) || (!all && (waiting || d == scorer))) continue;
            freed[d].TrySetResult();
        }
    }

    /// <summary>The device kept from training to score the step's last samples (see <see cref="Note"/>); null until one is.</summary>
    public int? Scorer => generated.Task.IsCompleted ? null : scorer;

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
