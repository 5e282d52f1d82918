using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Grains.Interfaces.Jobs;
using Grains.Storage;

namespace Grains.Iteration;

/// <summary>
/// A job's checkpoints in the store: the trainers' weights and optimizer states, then state.json last
/// (iteration, seed, dataset position, and the job file's fingerprint), so a checkpoint without it is
/// incomplete and never resumed from. Random generators need no saving: every draw derives from the
/// seed, the iteration and the sample. A checkpoint belongs to the job file that wrote it: a resume
/// with another file is refused, and a fresh run of the same file starts clean.
/// </summary>
public sealed class JobCheckpoints(JobSpec job, ICheckpointStore store)
{
    private readonly JobKeys keys = JobKeys.For(job);

    /// <summary>What identifies a job file's training: every setting but how long it runs, how often it checkpoints and evaluates.</summary>
    public static string Fingerprint(JobSpec job)
    {
        var training = job with { Iterations = 1, Rl = job.Rl is { } rl ? rl with { CheckpointEvery = 0, EvalEvery = 1 } : null };
        return Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(training.ToJson())))[..16].ToLowerInvariant();
    }

    public async Task Save(int iteration, ITrainerBackend trainers, long promptsDrawn)
    {
        var prefix = keys.Checkpoint(iteration);
        await trainers.SaveState(prefix);
        var state = new CheckpointState(iteration, job.Seed, promptsDrawn, Fingerprint(job));
        await store.WriteAsync($"{prefix}/state.json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(state)));
    }

    /// <summary>The latest complete checkpoint's iteration and dataset position; (0, 0) when there is none.</summary>
    public async Task<(int Iteration, long PromptsDrawn)> Latest()
    {
        if (await LatestState() is not { } found) return (0, 0);
        var (name, state) = found;
        if (state.Seed != job.Seed) throw new InvalidDataException($"{name} was written by a run with seed {state.Seed}, not {job.Seed}");
        if (state.Fingerprint is { } written && written != Fingerprint(job))
        {
            throw new InvalidDataException($"{name} was written by another job file under the name {job.Name}; resume with that file, or run this one afresh");
        }
        if (await store.GetAsync(keys.ReferenceWeights) is null) throw new InvalidDataException($"{keys.ReferenceWeights} is missing: the job cannot resume without its reference model");
        return (state.Iteration, state.PromptsDrawn);
    }

    /// <summary>
    /// Before a fresh run: removes an earlier run of the same job file (its weights and checkpoints) and
    /// returns how many objects went; refuses when they belong to another job file, which a fresh run
    /// must not destroy.
    /// </summary>
    public async Task<int> ClearEarlierRun()
    {
        var objects = await store.ListAsync($"jobs/{job.Name}/");
        if (objects.Count == 0) return 0;
        if (await LatestState() is ({ } name, { Fingerprint: { } written }) && written != Fingerprint(job))
        {
            throw new InvalidOperationException($"job {job.Name} already has checkpoints of another job file (latest {name}); resume it with that file, choose another name, or remove jobs/{job.Name}/ from the checkpoint store");
        }
        foreach (var o in objects) await store.DeleteAsync(o.Name);
        return objects.Count;
    }

    /// <summary>Weight versions older than the one before <paramref name="version"/> are read by nobody.</summary>
    public async Task DeleteOldWeights(int version)
    {
        if (version < 2) return;
        await store.DeleteAsync(keys.ActorWeights(version - 2));
        if (job.Rl!.NeedsCritic) await store.DeleteAsync(keys.CriticWeights(version - 2));
    }

    private async Task<(string Name, CheckpointState State)?> LatestState()
    {
        var states = (await store.ListAsync(keys.Checkpoints)).Where(o => o.Name.EndsWith("/state.json")).ToArray();
        if (states.Length == 0) return null;
        using var buffer = new MemoryStream();
        await store.ReadAsync(states[^1].Name, buffer);
        var state = JsonSerializer.Deserialize<CheckpointState>(buffer.ToArray()) ?? throw new InvalidDataException($"{states[^1].Name} is empty");
        return (states[^1].Name, state);
    }

    /// <param name="Fingerprint">The job file's (<see cref="JobCheckpoints.Fingerprint"/>); null in checkpoints written before it was recorded.</param>
    private sealed record CheckpointState(int Iteration, long Seed, long PromptsDrawn, string? Fingerprint = null);
}
