using Grains.Interfaces.Rl;
using Kernels.Preference;
using Kernels.Tasks;

namespace Grains.Preference;

/// <summary>
/// Preference pairs from an RL job's own samples: in each group (one prompt's responses in one step), the
/// response the verifier rewarded most is chosen over the one it rewarded least; or, with <c>every</c>, each
/// distinct response over each distinct response rewarded less. A group whose responses all have one reward
/// teaches no preference and gives none; nor does a pair whose two responses read the same.
/// </summary>
public static class PairsFromSamples
{
    public static IEnumerable<PreferencePair> Of(IEnumerable<SampleRecord> records, TaskEncoding encoding, bool every = false)
    {
        if (every)
        {
            foreach (var pair in Every(records, encoding)) yield return pair;
            yield break;
        }
        var scored = records.Where(r => r is { Start: not null, Generated: not null, Scores: not null } && r.Start.Prompt.Length > 0);
        foreach (var group in scored.GroupBy(r => (r.Start!.Iteration, r.Start.Group)).OrderBy(g => g.Key.Iteration).ThenBy(g => g.Min(r => r.Start!.Index)))
        {
            // Ties go to the earliest sample, so the same records give the same pairs.
            var ranked = group.OrderByDescending(r => r.Scores!.Reward).ThenBy(r => r.Start!.Index).ToArray();
            var (best, worst) = (ranked[0], ranked.OrderBy(r => r.Scores!.Reward).ThenBy(r => r.Start!.Index).First());
            if (best.Scores!.Reward <= worst.Scores!.Reward) continue;
            var (chosen, rejected) = (encoding.Response(best.Generated!.Response), encoding.Response(worst.Generated!.Response));
            if (chosen == rejected || chosen.Length == 0 || rejected.Length == 0) continue;
            // The prompt's tokens begin with the task encoding's bos.
            yield return new PreferencePair(encoding.Tokenizer.Decode(best.Start!.Prompt.Skip(1)), chosen, rejected);
        }
    }

    /// <summary>In each group, every distinct response over every distinct response with a lower reward (a text's first sample's reward).</summary>
    private static IEnumerable<PreferencePair> Every(IEnumerable<SampleRecord> records, TaskEncoding encoding)
    {
        var scored = records.Where(r => r is { Start: not null, Generated: not null, Scores: not null } && r.Start.Prompt.Length > 0);
        foreach (var group in scored.GroupBy(r => (r.Start!.Iteration, r.Start.Group)).OrderBy(g => g.Key.Iteration).ThenBy(g => g.Min(r => r.Start!.Index)))
        {
            var prompt = encoding.Tokenizer.Decode(group.First().Start!.Prompt.Skip(1));
            var responses = group.OrderBy(r => r.Start!.Index).Select(r => (Text: encoding.Response(r.Generated!.Response), r.Scores!.Reward))
                .Where(r => r.Text.Length > 0).DistinctBy(r => r.Text).ToArray();
            foreach (var chosen in responses)
            {
                foreach (var rejected in responses.Where(r => r.Reward < chosen.Reward)) yield return new PreferencePair(prompt, chosen.Text, rejected.Text);
            }
        }
    }
}
