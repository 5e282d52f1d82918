using Grains.Interfaces.Rl;
using Kernels.Ranking;

namespace Grains.Iteration;

/// <summary>
/// The job's output-length ranker: each step's prompts are forecast when the step is launched (before
/// any of it is generated, so an asynchronous step's forecast knows only the steps trained before it),
/// and once the step is trained its forecast is scored against the lengths that came and the ranker
/// learns from them. A prompt is known by its example index, or on emulated devices by its seed (the
/// same each epoch when the emulation has a dataset size). Its token model is fit by a stateless worker
/// (<see cref="ILengthModelGrain"/>), not in the job grain's turn; a forecast waits for the fit asked before it.
/// </summary>
public sealed class LengthRanking(ILengthModelGrain model)
{
    private readonly LengthRanker ranker = new();
    // The fit of the latest window asked for: each next one starts when it ends, and a forecast awaits it.
    private Task fitted = Task.CompletedTask;

    /// <summary>The forecast of one launched step: each prompt group's predicted score, and how many of its prompts the ranker had seen.</summary>
    public sealed record Forecast(IReadOnlyDictionary<string, double> ByGroup, double KnownShare);

    /// <summary>What the ranker has learned, for a checkpoint.</summary>
    public RankerState State() => ranker.State();

    /// <summary>A resumed job's ranker takes up what its checkpoint's had learned (its model fit as after a step).</summary>
    public void Restore(RankerState state)
    {
        ranker.Restore(state, fit: false);
        fitted = Fit(fitted);
    }

    /// <summary>
    /// Waits for the model's fit asked last (after a step was trained, or at a resume), so the next forecast
    /// uses it. A fit that failed leaves the weights before it and is rethrown here once, for the caller to report.
    /// </summary>
    public async Task Fitted()
    {
        var fit = fitted;
        fitted = Task.CompletedTask;
        await fit;
    }

    public Forecast Predict(IReadOnlyList<SampleStart> starts)
    {
        var groups = starts.DistinctBy(s => s.Group).ToArray();
        var prompts = groups.Select(Prompt).ToArray();
        var predicted = ranker.Predict(prompts);
        var seen = groups.Length == 0 ? 0 : prompts.Count(p => ranker.Knows(p.Key)) / (double)groups.Length;
        return new Forecast(groups.Select((g, k) => (g.Group, predicted[k])).ToDictionary(), seen);
    }

    /// <summary>Scores the forecast against the trained samples' lengths, then learns from them; null when fewer than five prompts were trained.</summary>
    public RankingReport? Trained(Forecast forecast, IReadOnlyList<SampleRecord> trained)
    {
        var groups = trained.GroupBy(r => r.Start!.Group).Where(g => forecast.ByGroup.ContainsKey(g.Key)).ToArray();
        ranker.Observe([.. groups.Select(g => new ObservedPrompt(Key(g.First().Start!), g.First().Start!.Prompt, [.. g.Select(r => r.Generated!.Tokens)]))], fit: false);
        fitted = Fit(fitted);
        if (groups.Length < 5) return null;
        double[] predicted = [.. groups.Select(g => forecast.ByGroup[g.Key])];
        double[] means = [.. groups.Select(g => g.Average(r => (double)r.Generated!.Tokens))];
        double[] perResponse = [.. groups.SelectMany(g => g.Select(_ => forecast.ByGroup[g.Key]))];
        double[] lengths = [.. groups.SelectMany(g => g.Select(r => (double)r.Generated!.Tokens))];
        return new RankingReport(RankQuality.RecallOfLongest(predicted, means), RankQuality.SpearmanRho(predicted, means),
            RankQuality.RecallOfLongest(perResponse, lengths), forecast.KnownShare, Halfway(groups, predicted, means));
    }

    /// <summary>
    /// The prompt recall of the forecast the step had once half its responses had ended (by the time each was
    /// generated): the launch forecast with each prompt's siblings' lengths so far, those still waiting in a
    /// worker's queue then (admitted after) told from those running, and each running one's tokens so far: the
    /// seconds since its admission at the median decoding rate of the responses ended by then (a worker knows the
    /// count itself; the records keep only when each began and ended).
    /// </summary>
    private static double? Halfway(IGrouping<string, SampleRecord>[] groups, double[] launch, double[] means)
    {
        if (groups.Any(g => g.Any(r => r.Times.Generated is null))) return null;
        var byEnd = groups.SelectMany(g => g).OrderBy(r => r.Times.Generated).ToArray();
        var half = byEnd.Take(byEnd.Length / 2).ToHashSet();
        var now = byEnd[Math.Max(0, byEnd.Length / 2 - 1)].Times.Generated!.Value;
        double[] rates = [.. half.Where(r => r.Generated!.Began is { } b && r.Times.Generated > b).Select(r => r.Generated!.Tokens / (r.Times.Generated!.Value - r.Generated!.Began!.Value).TotalSeconds).Order()];
        var rate = rates.Length == 0 ? double.PositiveInfinity : rates[rates.Length / 2];
        var running = groups.Select(g => g.Where(r => !half.Contains(r) && (r.Generated!.Began is not { } began || began <= now))
            .Select(r => r.Generated!.Began is { } began && double.IsFinite(rate) ? (int)Math.Min(int.MaxValue, Math.Floor((now - began).TotalSeconds * rate)) : int.MaxValue).ToArray()).ToArray();
        var halfway = SiblingForecast.Predict(launch, [.. groups.Select(g => g.Where(half.Contains).Select(r => r.Generated!.Tokens).ToArray())],
            [.. groups.Select((g, p) => g.Count(half.Contains) + running[p].Length)], [.. groups.Select(g => g.Count())], runningSoFar: running);
        return RankQuality.RecallOfLongest(halfway, means);
    }

    /// <summary>Has the model fit to its window as it is once <paramref name="before"/> (the fit asked before) ends; an emulated job's prompts have no tokens, and no window.</summary>
    private async Task Fit(Task before)
    {
        try
        {
            await before;
        }
        finally
        {
            var window = ranker.Model.Window;
            if (window.Count > 0)
            {
                var weights = await model.Fit(new LengthModelWindow(ranker.Model.Buckets, ranker.Model.Ridge, [.. window.Select(w => w.Prompt)], [.. window.Select(w => w.Target)]));
                ranker.Model.Use(weights);
            }
        }
    }

    private static RankedPrompt Prompt(SampleStart start) => new(Key(start), start.Prompt);

    private static long Key(SampleStart start) => start.ExampleIndex >= 0 ? start.ExampleIndex : start.PromptSeed;
}
