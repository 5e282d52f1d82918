namespace Grains.Pipeline;

/// <summary>
/// One per silo: for each device slot, which place of the device's order may run now. Stage grains that
/// share a device (the actor's and the critic's in a fused schedule) each wait for their places, so the
/// device runs its passes one at a time in the schedule's order, whichever grain holds them.
/// </summary>
public sealed class DeviceTurns
{
    private readonly Lock gate = new();
    private readonly Dictionary<string, Turn> turns = [];

    private sealed class Turn(long step)
    {
        public long Step { get; } = step;
        public int Place { get; set; }
        public Dictionary<int, TaskCompletionSource> Waiting { get; } = [];
    }

    /// <summary>Completes when place <paramref name="place"/> of step <paramref name="step"/> on <paramref name="device"/> is the device's next.</summary>
    public Task WaitFor(string device, long step, int place)
    {
        lock (gate)
        {
            var turn = Current(device, step);
            if (place < turn.Place) throw new InvalidOperationException($"{device}: place {place} of step {step} has already run");
            if (place == turn.Place) return Task.CompletedTask;
            var waiting = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            if (!turn.Waiting.TryAdd(place, waiting)) throw new InvalidOperationException($"{device}: place {place} of step {step} is awaited twice");
            return waiting.Task;
        }
    }

    /// <summary>Place <paramref name="place"/> has run: the next may start.</summary>
    public void Done(string device, long step, int place)
    {
        lock (gate)
        {
            var turn = Current(device, step);
            if (turn.Place != place) throw new InvalidOperationException($"{device}: place {place} of step {step} ended while place {turn.Place} was due");
            turn.Place++;
            if (turn.Waiting.Remove(turn.Place, out var next)) next.SetResult();
        }
    }

    /// <summary>Fails every pass still waiting on <paramref name="device"/> in step <paramref name="step"/>.</summary>
    public void Abort(string device, long step, Exception reason)
    {
        lock (gate)
        {
            if (!turns.TryGetValue(device, out var turn) || turn.Step != step) return;
            foreach (var waiting in turn.Waiting.Values) waiting.TrySetException(reason);
            turn.Waiting.Clear();
        }
    }

    /// <summary>
    /// Forgets <paramref name="device"/>'s steps (its stages were set up again): a job gone back to its last
    /// checkpoint after a silo's loss runs again steps this device ran or began. A pass still waiting fails.
    /// </summary>
    public void Forget(string device)
    {
        lock (gate)
        {
            if (!turns.Remove(device, out var turn)) return;
            foreach (var waiting in turn.Waiting.Values) waiting.TrySetException(new InvalidOperationException($"{device}: set up again while step {turn.Step} waited"));
        }
    }

    private Turn Current(string device, long step)
    {
        if (turns.TryGetValue(device, out var turn))
        {
            if (turn.Step == step) return turn;
            if (turn.Step > step) throw new InvalidOperationException($"{device}: step {step} is older than step {turn.Step}, which has begun");
            foreach (var waiting in turn.Waiting.Values) waiting.TrySetException(new InvalidOperationException($"{device}: step {step} began before step {turn.Step} ended"));
        }
        return turns[device] = new Turn(step);
    }
}
