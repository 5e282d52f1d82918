using Grains.Data;
using Grains.Interfaces.Rl;
using Kernels.Tasks;

namespace Grains.Iteration;

/// <summary>Held-out accuracy of a weights version: greedy responses to the held-out prompts, split over the workers, that the task's verifier scores 1.</summary>
public static class HeldOutEvaluation
{
    public static async Task<double> Accuracy(IGenerationWorkerGrain[] workers, WeightsRef weights, TaskEncoding encoding, RlData data)
    {
        var parts = await Task.WhenAll(workers.Select(async (w, k) =>
        {
            var mine = Enumerable.Range(0, data.HeldOut.Count).Where(e => e % workers.Length == k).ToArray();
            var responses = await w.Greedy([.. mine.Select(e => encoding.Prompt(data.HeldOut[e]))], data.Task.MaxResponseTokens, weights);
            return mine.Zip(responses, (e, response) => data.Task.Reward(data.HeldOut[e], encoding.Response(response))).ToArray();
        }));
        var rewards = parts.SelectMany(p => p).ToArray();
        return rewards.Count(r => r >= 1.0) / (double)rewards.Length;
    }
}
