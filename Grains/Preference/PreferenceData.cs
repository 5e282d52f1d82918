using Grains.Data;
using Grains.Interfaces.Jobs;
using Kernels.Preference;
using Kernels.Tasks;

namespace Grains.Preference;

/// <summary>
/// A DPO job's pairs: read from its file, encoded (bos + prompt; response + eos) and checked to fit the model,
/// split into held-out pairs (a seeded draw of dpo.heldOutPairs) and training pairs, and the order training
/// pairs are drawn in (a seeded permutation per epoch). A pair's index is its place in the file.
/// </summary>
public sealed class PreferenceData
{
    /// <param name="maxPositions">The model's positions: a prompt with either response must fit.</param>
    public PreferenceData(JobSpec job, TaskEncoding encoding, int maxPositions)
    {
        var dpo = job.Dpo!;
        var pairs = PreferenceFile.ReadFile(dpo.Pairs);
        if (pairs.Count <= dpo.HeldOutPairs)
        {
            throw new InvalidDataException($"{dpo.Pairs}: {pairs.Count} pairs leave none to train on after dpo.heldOutPairs ({dpo.HeldOutPairs})");
        }
        Pairs = pairs;
        Tokens = [.. pairs.Select(p => Encode(p, encoding, maxPositions, dpo.Pairs))];
        var shuffled = Enumerable.Range(0, pairs.Count).ToArray();
        Seeds.Random(job.Seed, 0xD90).Shuffle(shuffled);
        HeldOut = [.. shuffled[..dpo.HeldOutPairs].Order()];
        Train = [.. shuffled[dpo.HeldOutPairs..].Order()];
        order = new EpochOrder(job.Seed, Train.Length);
    }

    private readonly EpochOrder order;

    public IReadOnlyList<PreferencePair> Pairs { get; }

    /// <summary>Each pair's tokens, by its index.</summary>
    public IReadOnlyList<(int[] Prompt, int[] Chosen, int[] Rejected)> Tokens { get; }

    /// <summary>The held-out pairs' indices, in file order.</summary>
    public int[] HeldOut { get; }

    /// <summary>The training pairs' indices, in file order.</summary>
    public int[] Train { get; }

    /// <summary>The index of the k-th training pair drawn since the job began.</summary>
    public int Drawn(long k) => Train[order.Index(k)];

    /// <summary>Reads and checks the pairs of <paramref name="job"/>'s file: what a submit does, so a bad file is refused before the job starts.</summary>
    public static void Check(JobSpec job, TaskEncoding encoding, int maxPositions) => _ = new PreferenceData(job, encoding, maxPositions);

    private static (int[] Prompt, int[] Chosen, int[] Rejected) Encode(PreferencePair pair, TaskEncoding encoding, int maxPositions, string source)
    {
        try
        {
            var prompt = encoding.Prompt(new TaskExample(pair.Prompt, ""));
            int[] chosen = [.. encoding.Tokenizer.Encode(pair.Chosen), encoding.Tokenizer.EosId];
            int[] rejected = [.. encoding.Tokenizer.Encode(pair.Rejected), encoding.Tokenizer.EosId];
            var longest = prompt.Length + Math.Max(chosen.Length, rejected.Length);
            if (longest > maxPositions) throw new ArgumentException($"a prompt and response of {longest} tokens exceed the model's {maxPositions} positions");
            return (prompt, chosen, rejected);
        }
        catch (ArgumentException e)
        {
            throw new InvalidDataException($"{source}:{pair.Line}: {e.Message}", e);
        }
    }
}
