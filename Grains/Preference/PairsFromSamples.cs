using Grains.Interfaces.Rl;
using Kernels.Preference;
using Kernels.Tasks;

namespace Grains.Preference;

/// <summary>
/// Preference pairs from an RL job's own samples: in each group (one prompt's responses in one step), the
/// response the verifier rewarded most is chosen over the one it rewarded least; or, with <c>every</c>, each
/// distinct response over each distinct response rewarded less. A group whose responses all have one reward
/// teaches no preference and gives none; nor does a pair whose two responses read the same. Ties go to the
/// earliest sample, so the same records give the same pairs.
/// </summary>
public static class PairsFromSamples
{
    public static IEnumerable<PreferencePair> Of(IEnumerable<SampleRecord> records, TaskEncoding encoding, bool every = false)
    {
        var scored = records.Where(r => r is { Start: not null, Generated: not null, Scores: not null } && r.Start.Prompt.Length > 0);
        foreach (var group in scored.GroupBy(r => (r.Start!.Iteration, r.Start.Group)).OrderBy(g => g.Key.Iteration).ThenBy(g => g.Min(r => r.Start!.Index)))
        {
            // The prompt's tokens begin with the task encoding's bos.
            var prompt = encoding.Tokenizer.Decode(group.First().Start!.Prompt.Skip(1));
            var responses = group.OrderBy(r => r.Start!.Index).Select(r => (Text: encoding.Response(r.Generated!.Response), r.Scores!.Reward)).ToArray();
            if (every)
            {
                // A text's first sample's reward stands for it.
                var distinct = responses.Where(r => r.Text.Length > 0).DistinctBy(r => r.Text).ToArray();
                foreach (var chosen in distinct)
                {
                    foreach (var rejected in distinct.Where(r => r.Reward < chosen.Reward)) yield return new PreferencePair(prompt, chosen.Text, rejected.Text);
                }
                continue;
            }
            var (best, worst) = (responses.MaxBy(r => r.Reward), responses.MinBy(r => r.Reward));
            if (best.Reward <= worst.Reward || best.Text == worst.Text || best.Text.Length == 0 || worst.Text.Length == 0) continue;
            yield return new PreferencePair(prompt, best.Text, worst.Text);
        }
    }
}
