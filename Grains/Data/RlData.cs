using Grains.Interfaces.Jobs;
using Kernels.Tasks;

namespace Grains.Data;

/// <summary>
/// A job's examples: the training set (a JSONL file or generated) and a held-out set generated from a
/// separate seed, checked to encode; and the order prompts are drawn in, a fresh seeded permutation per
/// epoch, so the prompts of any iteration follow from the seed alone (nothing to save for a resume).
/// </summary>
public sealed class RlData
{
    /// <param name="maxPositions">The model's positions: every prompt and the task's longest response must fit.</param>
    public RlData(JobSpec job, TaskEncoding encoding, int maxPositions)
    {
        var rl = job.Rl!;
        Task = TaskDataset.Task(SpecNames.Of(rl.Task));
        Train = rl.Dataset is { } path ? TaskDataset.ReadFile(path) : TaskDataset.Generate(Task, rl.TrainExamples, job.Seed);
        HeldOut = TaskDataset.Generate(Task, rl.HeldOutExamples, job.Seed ^ 0x5EED_0F_4E1D);
        encoding.Check(Train, rl.Dataset ?? "generated training set", maxPositions, Task.MaxResponseTokens);
        encoding.Check(HeldOut, "generated held-out set", maxPositions, Task.MaxResponseTokens);
        seed = job.Seed;
    }

    private readonly long seed;
    private readonly Dictionary<int, int[]> orders = [];

    public IVerifiableTask Task { get; }
    public IReadOnlyList<TaskExample> Train { get; }
    public IReadOnlyList<TaskExample> HeldOut { get; }

    /// <summary>The index in <see cref="Train"/> of the k-th prompt drawn since the job began.</summary>
    public int PromptIndex(long k)
    {
        var epoch = (int)(k / Train.Count);
        if (!orders.TryGetValue(epoch, out var order))
        {
            order = Enumerable.Range(0, Train.Count).ToArray();
            Seeds.Random(seed, epoch).Shuffle(order);
            orders.Clear();
            orders[epoch] = order;
        }
        return order[(int)(k % Train.Count)];
    }
}
