using System.Collections.Concurrent;
using Orleans.Storage;

namespace Grains.Storage;

/// <summary>
/// Grain state in this process's memory, lost with it: the ledger of a benchmark that measures
/// scheduling alone. A write is a dictionary entry, not a grain call or a file, so it adds nothing to
/// the control plane being measured.
/// </summary>
public sealed class ProcessGrainStorage : IGrainStorage
{
    private readonly ConcurrentDictionary<(string, GrainId), object?> states = new();

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (states.TryGetValue((stateName, grainId), out var state))
        {
            (grainState.State, grainState.ETag, grainState.RecordExists) = ((T)state!, "written", true);
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        states[(stateName, grainId)] = grainState.State;
        (grainState.ETag, grainState.RecordExists) = ("written", true);
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        states.TryRemove((stateName, grainId), out _);
        // As Orleans' own providers do: a cleared state is a fresh one.
        (grainState.State, grainState.ETag, grainState.RecordExists) = (Activator.CreateInstance<T>(), null, false);
        return Task.CompletedTask;
    }
}
