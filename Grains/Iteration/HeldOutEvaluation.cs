using Grains.Data;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Tasks;
using Kernels.Tools;

namespace Grains.Iteration;

/// <summary>Held-out accuracy of a weights version: greedy responses to the held-out prompts, split over the workers, that the task's verifier scores 1.</summary>
public static class HeldOutEvaluation
{
    /// <summary>
    /// The accuracy over every held-out prompt. A worker that stops on the version (it failed to load there)
    /// is told to <paramref name="stopped"/> and its prompts go to the others: greedy responses depend on the
    /// weights, not on the worker. With <paramref name="tools"/> the responses call them as the job's samples do,
    /// and the verifier scores the text after the last answer, as it does theirs.
    /// </summary>
    public static async Task<HeldOutResult> Accuracy(IGenerationWorkerGrain[] workers, WeightsRef weights, TaskEncoding encoding, RlData data, ToolsSpec? tools,
        Action<IGenerationWorkerGrain, Exception> stopped)
    {
        var tokens = tools is null ? data.Task.MaxResponseTokens : Math.Max(data.Task.MaxResponseTokens, tools.ResponseTokens);
        var rewards = new double[data.HeldOut.Count];
        var texts = new string[data.HeldOut.Count];
        var (left, going) = (Enumerable.Range(0, data.HeldOut.Count).ToArray(), workers.ToList());
        while (left.Length > 0)
        {
            if (going.Count == 0) throw new InvalidOperationException($"no generation worker could evaluate weights version {weights.Version} ({weights.Object})");
            var parts = await Task.WhenAll(going.Select(async (w, k) =>
            {
                var mine = left.Where((_, j) => j % going.Count == k).ToArray();
                try
                {
                    var responses = await w.Greedy([.. mine.Select(e => encoding.Prompt(data.HeldOut[e]))], tokens, weights, tools?.Use());
                    foreach (var (e, response) in mine.Zip(responses))
                    {
                        var text = texts[e] = encoding.Response(response);
                        rewards[e] = data.Task.Reward(data.HeldOut[e], tools is null ? text : ToolSyntax.FinalAnswer(text));
                    }
                    return (Worker: w, Left: Array.Empty<int>(), Error: (Exception?)null);
                }
                catch (Exception error) when (WorkerStoppedException.In(error))
                {
                    return (Worker: w, Left: mine, Error: error);
                }
            }));
            foreach (var part in parts.Where(p => p.Error is not null))
            {
                stopped(part.Worker, part.Error!);
                going.Remove(part.Worker);
            }
            left = [.. parts.SelectMany(p => p.Left).Order()];
        }
        return new(rewards.Count(r => r >= 1.0) / (double)rewards.Length, $"{data.HeldOut[0].Prompt} -> {texts[0]}");
    }
}

/// <summary>Held-out accuracy, and the first held-out prompt with its greedy response (what the policy writes now).</summary>
public sealed record HeldOutResult(double Accuracy, string Example);
