using Kernels.Generation;
using Kernels.Model;

namespace Kernels.Tasks;

/// <summary>Greedy answers to held-out examples: accuracy (share with full reward) and mean reward.</summary>
public static class TaskEvaluation
{
    public static (double Accuracy, double MeanReward) Run(Transformer model, IVerifiableTask task, TaskEncoding encoding, IReadOnlyList<TaskExample> examples, int capacity = 64)
    {
        var requests = examples.Select((e, i) => new GenerationRequest($"eval-{i}", encoding.Prompt(e),
            new SamplingParams(task.MaxResponseTokens, Temperature: 0, StopTokens: [encoding.Tokenizer.EosId]))).ToArray();
        var maxLength = requests.Max(r => r.Prompt.Length) + task.MaxResponseTokens + 1;
        var done = ContinuousBatch.Generate(model, requests, capacity, maxLength);
        var rewards = done.Select((c, i) => task.Reward(examples[i], encoding.Response(c.Response))).ToArray();
        return (rewards.Count(r => r >= 1.0) / (double)rewards.Length, rewards.Average());
    }
}
