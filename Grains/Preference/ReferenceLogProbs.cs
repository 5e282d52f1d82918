using System.Security.Cryptography;
using System.Text.Json;
using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;

namespace Grains.Preference;

/// <summary>
/// The frozen reference's sequence log-probs of every pair's two responses: computed once, by the job's
/// scoring workers, and kept in the store beside the reference weights, so that a resumed run (or one going
/// on after a silo's loss) reads them back instead of computing them again. They belong to the pairs' tokens
/// and the reference they were computed with: either changed, they are computed again.
/// </summary>
public sealed class ReferenceLogProbs(JobSpec job, IGrainFactory grains, ICheckpointStore store)
{
    /// <summary>Sequences per call to a scoring worker.</summary>
    private const int Chunk = 256;

    private readonly JobKeys keys = JobKeys.For(job);

    /// <summary>The reference log-probs of each pair's chosen and rejected response, by pair index; and whether they were computed now (false: read back).</summary>
    public async Task<(float[] Chosen, float[] Rejected, bool Computed)> For(PreferenceData data)
    {
        // dpo.reference, or the actor's start as the job published it.
        var referenceObject = job.Dpo?.Reference ?? keys.ReferenceWeights;
        var reference = await store.GetAsync(referenceObject) ?? throw new InvalidOperationException($"{referenceObject} is missing: the reference is published before its log-probs are computed");
        var fingerprint = Fingerprint(data, reference.Sha256);
        if (await Stored() is { } stored && stored.Fingerprint == fingerprint) return (stored.Chosen, stored.Rejected, false);
        var (chosen, rejected) = await Scored(referenceObject, data.Tokens);
        await store.WriteAsync(keys.PreferenceReference, new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(new Kept(fingerprint, chosen, rejected))));
        return (chosen, rejected, true);
    }

    /// <summary>The sequence log-probs of each pair's chosen and rejected response under the weights <paramref name="objectName"/>, by the job's scoring workers.</summary>
    public async Task<(float[] Chosen, float[] Rejected)> Scored(string objectName, IReadOnlyList<(int[] Prompt, int[] Chosen, int[] Rejected)> pairs)
    {
        var sequences = pairs.Select(t => (t.Prompt, Response: t.Chosen)).Concat(pairs.Select(t => (t.Prompt, Response: t.Rejected))).ToArray();
        var scorer = grains.GetGrain<IScoringGrain>(job.Name);
        var chunks = await Task.WhenAll(sequences.Chunk(Chunk).Select(chunk => SiloLoss.Retry(() =>
            scorer.SequenceLogProbs(new SequenceRequest(job.Rl!.Model, objectName, [.. chunk.Select(s => s.Prompt)], [.. chunk.Select(s => s.Response)])))));
        var all = chunks.SelectMany(c => c).ToArray();
        return (all[..pairs.Count], all[pairs.Count..]);
    }

    private async Task<Kept?> Stored()
    {
        if (await store.GetAsync(keys.PreferenceReference) is null) return null;
        using var buffer = new MemoryStream();
        await store.ReadAsync(keys.PreferenceReference, buffer);
        try
        {
            return JsonSerializer.Deserialize<Kept>(buffer.ToArray());
        }
        catch (JsonException)
        {
            // A damaged object is computed again, not trusted.
            return null;
        }
    }

    /// <summary>What the log-probs depend on: every pair's tokens and the reference's bytes.</summary>
    private static string Fingerprint(PreferenceData data, string referenceSha256)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(System.Text.Encoding.UTF8.GetBytes(referenceSha256));
        foreach (var (prompt, chosen, rejected) in data.Tokens)
        {
            foreach (var part in new[] { prompt, chosen, rejected })
            {
                hash.AppendData(BitConverter.GetBytes(part.Length));
                hash.AppendData(System.Runtime.InteropServices.MemoryMarshal.AsBytes(part.AsSpan()));
            }
        }
        return Convert.ToHexString(hash.GetHashAndReset());
    }

    private sealed record Kept(string Fingerprint, float[] Chosen, float[] Rejected);
}
