using MathNet.Numerics.Distributions;

namespace Kernels.Ranking;

/// <summary>A prompt to rank: what identifies it across epochs (its example index, or an emulated prompt's seed) and its tokens (none when emulated).</summary>
public sealed record RankedPrompt(long Key, IReadOnlyList<int> Tokens);

/// <summary>A prompt after its step: its responses' lengths in tokens.</summary>
public sealed record ObservedPrompt(long Key, IReadOnlyList<int> Tokens, IReadOnlyList<int> Lengths);

/// <summary>
/// What a ranker has learned, as a checkpoint keeps it: each prompt's history, the token model's window, and how
/// the model's log length ratios convert to rank scores (none in a checkpoint from before it: one to one).
/// </summary>
public sealed record RankerState(PromptHistory[] History, ObservedScore[] Window, ScoreCalibration? Calibration = null);

/// <summary>A prompt's history: the sum of its responses' scores and how many they count for (older epochs weigh less).</summary>
public sealed record PromptHistory(long Key, double Sum, double Count);

/// <summary>A prompt of the token model's window and what the model is fit to: its responses' mean log length over their step's median.</summary>
public sealed record ObservedScore(int[] Prompt, double Score);

/// <summary>
/// A prompt's mean rank score as a line in its mean log length ratio, score = Intercept + Slope x ratio: the least
/// squares over the prompts of the latest step observed, so the token model's forecast and a prompt's history combine in one unit.
/// </summary>
public sealed record ScoreCalibration(double Intercept, double Slope)
{
    public static ScoreCalibration OneToOne { get; } = new(0, 1);

    public double Score(double logRatio) => Intercept + Slope * logRatio;

    /// <summary>The least-squares line through (ratio, score) pairs; null unless the ratios differ and the line rises.</summary>
    public static ScoreCalibration? Fit(IReadOnlyList<(double Ratio, double Score)> prompts)
    {
        if (prompts.Count < 2) return null;
        var (ratio, score) = (prompts.Average(p => p.Ratio), prompts.Average(p => p.Score));
        var spread = prompts.Sum(p => (p.Ratio - ratio) * (p.Ratio - ratio));
        var slope = spread == 0 ? 0 : prompts.Sum(p => (p.Ratio - ratio) * (p.Score - score)) / spread;
        return slope > 0 ? new ScoreCalibration(score - slope * ratio, slope) : null;
    }
}

/// <summary>
/// Predicts, before generation, how long each prompt's responses will run compared with the rest of
/// its step, learning online from the lengths the job observes. Lengths are compared as rank scores:
/// a response's score is Phi^-1((rank - 1/2) / n) of its length among the n of its step (ties share
/// their mean rank), so the upward drift of lengths over training and the heavy tail both drop out,
/// and a prompt's score is the mean of its responses'. Two sources, as StreamRL (a model on the prompt)
/// and Seer/RhymeRL (the same prompt's earlier responses) use them: the prompt's own history across
/// epochs, each new epoch's evidence weighing twice the one before (the policy changes); and
/// <see cref="PromptLengthModel"/> on the prompt's tokens, which also covers prompts never seen. They
/// combine as a shrinkage estimate, (sum of the history's scores + k x model) / (responses seen + k):
/// a prompt with a full group of history leans on it, a new one on the model. Emulated prompts have
/// no tokens, so there the history is all there is (0, the step's middle, before it).
/// The token model is fit not to the scores but to each prompt's mean log length over its step's median,
/// and its forecast is put in score units by <see cref="ScoreCalibration"/>: a least-squares fit spends itself
/// where its target spreads, and the scores, symmetric, spread a step's short responses (2 tokens against 4)
/// as far as its long ones (40 against 160), where the log ratio is skewed as the lengths are, toward the long
/// side that a forecast of the longest is for (on the run-length job, five seeds, prompt recall of the longest
/// 20 % over steps 11-20 0.768 fit to the scores, 0.811 to the log ratios, both over the same 4,096 hashed buckets).
/// </summary>
public sealed class LengthRanker(PromptLengthModel? model = null, double modelWeight = 4)
{
    private readonly PromptLengthModel model = model ?? new PromptLengthModel();
    private readonly Dictionary<long, (double Sum, double Count)> history = [];
    private ScoreCalibration calibration = ScoreCalibration.OneToOne;

    /// <summary>What it has learned so far.</summary>
    public RankerState State() => new([.. history.Select(h => new PromptHistory(h.Key, h.Value.Sum, h.Value.Count))],
        [.. model.Window.Select(w => new ObservedScore(w.Prompt, w.Target))], calibration);

    /// <summary>How the token model's forecast (a log length ratio) becomes a rank score.</summary>
    public ScoreCalibration Calibration => calibration;

    /// <summary>The token model: its window, and the weights it predicts with.</summary>
    public PromptLengthModel Model => model;

    /// <summary>
    /// Takes up what a ranker had learned in place of its own: its history, and its token model's window,
    /// refit unless <paramref name="fit"/> is false (the caller has the model fit elsewhere and gives it the weights).
    /// </summary>
    public void Restore(RankerState state, bool fit = true)
    {
        history.Clear();
        model.Clear();
        calibration = state.Calibration ?? ScoreCalibration.OneToOne;
        foreach (var h in state.History) history[h.Key] = (h.Sum, h.Count);
        foreach (var w in state.Window) model.Observe(w.Prompt, w.Score);
        if (fit) model.Fit();
    }

    /// <summary>Whether the prompt has history.</summary>
    public bool Knows(long key) => history.ContainsKey(key);

    /// <summary>Each prompt's predicted score (0 = the step's middle); a larger one ranks longer.</summary>
    public double[] Predict(IReadOnlyList<RankedPrompt> prompts) => [.. prompts.Select(p =>
    {
        var prior = p.Tokens.Count > 0 ? calibration.Score(model.Predict(p.Tokens)) : 0;
        var (sum, count) = history.GetValueOrDefault(p.Key);
        return (sum + modelWeight * prior) / (count + modelWeight);
    })];

    /// <summary>Learns from one step's prompts and their responses' lengths; the token model is refit unless <paramref name="fit"/> is false (as in <see cref="Restore"/>).</summary>
    public void Observe(IReadOnlyList<ObservedPrompt> step, bool fit = true)
    {
        if (step.Any(p => p.Lengths.Any(l => l < 0))) throw new ArgumentException("a response length below 0");
        int[] lengths = [.. step.SelectMany(p => p.Lengths)];
        var (scores, ratios) = (Scores(lengths), LogRatios(lengths));
        var tokened = new List<(double Ratio, double Score)>();
        var next = 0;
        foreach (var prompt in step)
        {
            var (sum, ratio) = (0.0, 0.0);
            for (var r = 0; r < prompt.Lengths.Count; r++, next++) (sum, ratio) = (sum + scores[next], ratio + ratios[next]);
            if (prompt.Lengths.Count == 0) continue;
            var (past, count) = history.GetValueOrDefault(prompt.Key);
            history[prompt.Key] = (past / 2 + sum, count / 2 + prompt.Lengths.Count);
            if (prompt.Tokens.Count == 0) continue;
            model.Observe(prompt.Tokens, ratio / prompt.Lengths.Count);
            tokened.Add((ratio / prompt.Lengths.Count, sum / prompt.Lengths.Count));
        }
        calibration = ScoreCalibration.Fit(tokened) ?? calibration;
        if (fit) model.Fit();
    }

    /// <summary>Each length's log over the lengths' median, ln(max(1, l) / median) (an empty response counts as one token).</summary>
    public static double[] LogRatios(IReadOnlyList<int> lengths)
    {
        if (lengths.Count == 0) return [];
        var sorted = lengths.Select(l => Math.Max(1, l)).Order().ToArray();
        var median = (sorted[(sorted.Length - 1) / 2] + sorted[sorted.Length / 2]) / 2.0;
        return [.. lengths.Select(l => Math.Log(Math.Max(1, l) / median))];
    }

    /// <summary>Each length's rank score among all of them: Phi^-1((mean rank - 1/2) / n).</summary>
    public static double[] Scores(IReadOnlyList<int> lengths) =>
        [.. RankQuality.Ranks([.. lengths.Select(l => (double)l)]).Select(rank => Normal.InvCDF(0, 1, (rank - 0.5) / lengths.Count))];
}
