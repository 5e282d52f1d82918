using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Grains.Interfaces.Jobs;
using Grains.Storage;
using Kernels.Ranking;

namespace Grains.Iteration;

/// <summary>
/// A job's checkpoints in the store: the trainers' weights and optimizer states, then state.json last
/// (iteration, seed, dataset position, and the job file's fingerprint), so a checkpoint without it is
/// incomplete and never resumed from. Random generators need no saving: every draw derives from the
/// seed, the iteration and the sample. A checkpoint belongs to the job file that wrote it: a resume
/// with another file is refused, and a fresh run of the same file starts clean. state.json lists the
/// checkpoint's parts with their hashes, so a resume can tell a damaged checkpoint (a part missing or
/// corrupt, a truncated state) and fall back to the one before, saying why. The length ranker's state is
/// a part too (ranker.json), so a resumed job forecasts as the stopped one would have.
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

    /// <param name="deferred">Prompts tail batching deferred to a long round, in line: a resumed run trains them as the stopped one would have.</param>
    /// <param name="ranker">What the length ranker has learned from the steps trained so far.</param>
    public async Task Save(int iteration, ITrainerBackend trainers, long promptsDrawn, IReadOnlyList<PromptRef>? deferred = null, RankerState? ranker = null)
    {
        var prefix = keys.Checkpoint(iteration);
        await trainers.SaveState(prefix);
        if (ranker is not null) await store.WriteAsync($"{prefix}/{RankerObject}", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(ranker)));
        var parts = (await store.ListAsync($"{prefix}/")).Where(o => !o.Name.EndsWith("/state.json")).Select(o => new Part(o.Name, o.Sha256)).ToArray();
        var state = new CheckpointState(iteration, job.Seed, promptsDrawn, Fingerprint(job), parts, deferred is { Count: > 0 } ? [.. deferred] : null);
        await store.WriteAsync($"{prefix}/state.json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(state)));
    }

    private const string RankerObject = "ranker.json";

    /// <summary>Where a run goes on from: the latest usable checkpoint's iteration, dataset position, deferred prompts and ranker (iteration 0 when there is none), and a line for each newer checkpoint that was damaged and passed over, naming what is wrong with it.</summary>
    public sealed record ResumePoint(int Iteration, long PromptsDrawn, IReadOnlyList<PromptRef> Deferred, IReadOnlyList<string> PassedOver, RankerState? Ranker = null)
    {
        public static ResumePoint Fresh { get; } = new(0, 0, [], []);
    }

    public async Task<ResumePoint> Latest()
    {
        var passedOver = new List<string>();
        foreach (var name in (await StateObjects()).Reverse())
        {
            var (state, damage) = await Read(name);
            if (state is null)
            {
                passedOver.Add($"{name}: {damage}");
                continue;
            }
            if (state.Seed != job.Seed) throw new InvalidDataException($"{name} was written by a run with seed {state.Seed}, not {job.Seed}");
            if (state.Fingerprint is { } written && written != Fingerprint(job))
            {
                throw new InvalidDataException($"{name} was written by another job file under the name {job.Name}; resume with that file, or run this one afresh");
            }
            if (await Damage(state) is { } broken)
            {
                passedOver.Add($"{name}: {broken}");
                continue;
            }
            if (await store.GetAsync(keys.ReferenceWeights) is null) throw new InvalidDataException($"{keys.ReferenceWeights} is missing: the job cannot resume without its reference model");
            var ranker = state.Parts?.FirstOrDefault(p => p.Name.EndsWith($"/{RankerObject}")) is { } part ? await ReadRanker(part.Name) : null;
            return new ResumePoint(state.Iteration, state.PromptsDrawn, state.Deferred ?? [], passedOver, ranker);
        }
        return ResumePoint.Fresh with { PassedOver = passedOver };
    }

    private async Task<RankerState> ReadRanker(string name)
    {
        using var buffer = new MemoryStream();
        await store.ReadAsync(name, buffer);
        return JsonSerializer.Deserialize<RankerState>(buffer.ToArray()) ?? throw new InvalidDataException($"{name} holds no ranker state");
    }

    /// <summary>What is wrong with a checkpoint's parts, or null: each listed part must be there and read back with its hash.</summary>
    private async Task<string?> Damage(CheckpointState state)
    {
        foreach (var part in state.Parts ?? [])
        {
            if (await store.GetAsync(part.Name) is not { } stored) return $"its part {part.Name} is missing";
            if (stored.Sha256 != part.Sha256) return $"its part {part.Name} was replaced after the checkpoint was written";
            try
            {
                await store.ReadAsync(part.Name, Stream.Null);
            }
            catch (Exception e) when (e is InvalidDataException or IOException)
            {
                return e.Message;
            }
        }
        return null;
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
        if ((await StateObjects()).LastOrDefault() is { } name && (await Read(name)).State is { Fingerprint: { } written } && written != Fingerprint(job))
        {
            throw new InvalidOperationException($"job {job.Name} already has checkpoints of another job file (latest {name}); resume it with that file, choose another name, or remove jobs/{job.Name}/ from the checkpoint store");
        }
        foreach (var o in objects) await store.DeleteAsync(o.Name);
        return objects.Count;
    }

    /// <summary>
    /// Removes version <paramref name="version"/> - <paramref name="keep"/>: with the newest at <paramref name="version"/>, steps still
    /// generating read versions down to version - maxStaleness, and the one before that is kept for the scorers finishing with it.
    /// </summary>
    public async Task DeleteOldWeights(int version, int keep)
    {
        if (version < keep) return;
        await store.DeleteAsync(keys.ActorWeights(version - keep));
        if (job.Rl!.NeedsCritic) await store.DeleteAsync(keys.CriticWeights(version - keep));
    }

    /// <summary>The checkpoints' state objects, oldest first (their names sort by iteration).</summary>
    private async Task<string[]> StateObjects() =>
        [.. (await store.ListAsync(keys.Checkpoints)).Select(o => o.Name).Where(n => n.EndsWith("/state.json")).Order(StringComparer.Ordinal)];

    /// <summary>A state object, or why it cannot be read (corrupt, truncated, empty).</summary>
    private async Task<(CheckpointState? State, string? Damage)> Read(string name)
    {
        try
        {
            using var buffer = new MemoryStream();
            await store.ReadAsync(name, buffer);
            return JsonSerializer.Deserialize<CheckpointState>(buffer.ToArray()) is { } state ? (state, null) : (null, "it is empty");
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            return (null, e.Message);
        }
        catch (JsonException e)
        {
            return (null, $"it is not a whole checkpoint state ({e.Message})");
        }
    }

    /// <summary>A part of a checkpoint, as it was written.</summary>
    private sealed record Part(string Name, string Sha256);

    /// <param name="Fingerprint">The job file's (<see cref="JobCheckpoints.Fingerprint"/>); null in checkpoints written before it was recorded.</param>
    /// <param name="Parts">The objects the trainers wrote, with their hashes; null in checkpoints written before they were listed.</param>
    /// <param name="Deferred">Prompts tail batching deferred to a long round, in line; null when none waited.</param>
    private sealed record CheckpointState(int Iteration, long Seed, long PromptsDrawn, string? Fingerprint = null, Part[]? Parts = null, PromptRef[]? Deferred = null);
}
