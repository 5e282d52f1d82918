namespace Grains.Iteration.Policies;

/// <summary>
/// One tail-batching round (RollPacker) as the step's stage policy: a group (the responses to one prompt)
/// keeps its first <paramref name="keep"/> responses to finish, and the round ends the moment
/// <paramref name="groups"/> groups are whole: every other sample is discarded (those still generating
/// leave their workers) and the groups not whole are deferred. Kept samples are scored as they finish
/// (<paramref name="streaming"/>) or all at the round's end; training starts once every kept one is scored.
/// A long round launches exactly <paramref name="groups"/> groups of <paramref name="keep"/> and so ends with the last.
/// </summary>
/// <param name="groupOf">Each sample's group, 0..n-1.</param>
public sealed class TailBatchRound(int[] groupOf, int groups, int keep, bool streaming) : IStagePolicy
{
    private readonly Dictionary<int, List<int>> taken = [];
    private readonly List<int> whole = [];
    private HashSet<int>? kept;
    private int keptScored;

    /// <summary>Whether the round has its groups.</summary>
    public bool Ended => kept is not null;

    /// <summary>The samples the step trains on, by index (the first <c>keep</c> of each whole group); empty until the round ends.</summary>
    public int[] Kept => kept is null ? [] : [.. kept.Order()];

    public IReadOnlyList<RolloutAction> Generated(RolloutState state, int sample)
    {
        var group = groupOf[sample];
        if (Ended || taken.GetValueOrDefault(group)?.Count >= keep) return [];
        if (!taken.TryGetValue(group, out var responses)) taken[group] = responses = [];
        responses.Add(sample);
        var actions = new List<RolloutAction>();
        if (streaming) actions.Add(new ScoreSample(sample));
        if (responses.Count == keep) whole.Add(group);
        if (whole.Count < groups) return actions;

        kept = [.. whole.SelectMany(g => taken[g])];
        keptScored = kept.Count(state.IsScored);
        actions.Add(new EndRound([.. Enumerable.Range(0, groupOf.Length).Where(k => !kept.Contains(k))]));
        if (!streaming) actions.AddRange(Kept.Select(k => new ScoreSample(k)));
        else if (keptScored == kept.Count) actions.Add(new StartTraining());
        return actions;
    }

    public IReadOnlyList<RolloutAction> Scored(RolloutState state, int sample) =>
        kept is not null && kept.Contains(sample) && ++keptScored == kept.Count ? [new StartTraining()] : [];
}
