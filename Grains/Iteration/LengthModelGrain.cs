using Grains.Interfaces.Rl;
using Kernels.Ranking;
using Orleans.Concurrency;

namespace Grains.Iteration;

/// <summary>
/// Solves a job's length model on a window of prompts: a ridge regression over the filled ones of 16,385 features
/// (a square solve of up to 2,048 after the products), which held the job grain's turn while it was solved there.
/// Stateless, so as many solve at once as jobs ask, each on its caller's silo.
/// </summary>
[StatelessWorker]
public sealed class LengthModelGrain : Grain, ILengthModelGrain
{
    public Task<double[]> Fit(LengthModelWindow window)
    {
        if (window.Buckets < 1) throw new ArgumentException($"length model: {window.Buckets} buckets (at least 1)", nameof(window));
        if (!(window.Ridge > 0)) throw new ArgumentException($"length model: ridge {window.Ridge} (above 0)", nameof(window));
        if (window.Prompts.Length != window.Scores.Length)
        {
            throw new ArgumentException($"length model: {window.Prompts.Length} prompts with {window.Scores.Length} scores (one each)", nameof(window));
        }
        if (window.Prompts.Length == 0) throw new ArgumentException("length model: no prompt to fit to", nameof(window));
        var model = new PromptLengthModel(window.Buckets, window.Prompts.Length, window.Ridge);
        for (var p = 0; p < window.Prompts.Length; p++) model.Observe(window.Prompts[p], window.Scores[p]);
        return Task.FromResult(model.Solve());
    }
}
