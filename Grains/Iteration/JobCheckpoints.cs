using System.Text.Json;
using Grains.Interfaces.Jobs;
using Grains.Storage;

namespace Grains.Iteration;

/// <summary>
/// A job's checkpoints in the store: the trainers' weights and optimizer states, then state.json last
/// (iteration, seed, dataset position), so a checkpoint without it is incomplete and never resumed from.
/// Random generators need no saving: every draw derives from the seed, the iteration and the sample.
/// </summary>
public sealed class JobCheckpoints(JobSpec job, ICheckpointStore store)
{
    private readonly JobKeys keys = JobKeys.For(job);

    public async Task Save(int iteration, ITrainerBackend trainers, long promptsDrawn)
    {
        var prefix = keys.Checkpoint(iteration);
        await trainers.SaveState(prefix);
        await store.WriteAsync($"{prefix}/state.json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(new CheckpointState(iteration, job.Seed, promptsDrawn))));
    }

    /// <summary>The latest complete checkpoint's iteration and dataset position; (0, 0) when there is none.</summary>
    public async Task<(int Iteration, long PromptsDrawn)> Latest()
    {
        var states = (await store.ListAsync(keys.Checkpoints)).Where(o => o.Name.EndsWith("/state.json")).ToArray();
        if (states.Length == 0) return (0, 0);
        using var buffer = new MemoryStream();
        await store.ReadAsync(states[^1].Name, buffer);
        var state = JsonSerializer.Deserialize<CheckpointState>(buffer.ToArray()) ?? throw new InvalidDataException($"{states[^1].Name} is empty");
        if (state.Seed != job.Seed) throw new InvalidDataException($"{states[^1].Name} was written by a run with seed {state.Seed}, not {job.Seed}");
        if (await store.GetAsync(keys.ReferenceWeights) is null) throw new InvalidDataException($"{keys.ReferenceWeights} is missing: the job cannot resume without its reference model");
        return (state.Iteration, state.PromptsDrawn);
    }

    /// <summary>Weight versions older than the one before <paramref name="version"/> are read by nobody.</summary>
    public async Task DeleteOldWeights(int version)
    {
        if (version < 2) return;
        await store.DeleteAsync(keys.ActorWeights(version - 2));
        if (job.Rl!.NeedsCritic) await store.DeleteAsync(keys.CriticWeights(version - 2));
    }

    private sealed record CheckpointState(int Iteration, long Seed, long PromptsDrawn);
}
