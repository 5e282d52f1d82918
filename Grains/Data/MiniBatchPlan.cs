using Grains.Interfaces.Jobs;

namespace Grains.Data;

/// <summary>
/// How an iteration's samples become optimizer steps: each epoch a seeded shuffle cut into equal
/// mini-batches, and each mini-batch split into one share per data-parallel replica with balanced
/// tokens. The job trains by it and the emulated prediction times by it, so both see the same shares.
/// </summary>
public static class MiniBatchPlan
{
    /// <summary>Each optimizer step's rows (indices into the iteration's samples), in order.</summary>
    public static int[][] Steps(int rows, int epochs, int miniBatches, long jobSeed, int iteration)
    {
        var steps = new List<int[]>();
        for (var epoch = 0; epoch < epochs; epoch++)
        {
            var order = Enumerable.Range(0, rows).ToArray();
            Seeds.Random(jobSeed, iteration, epoch, 0x3E).Shuffle(order);
            for (var m = 0; m < miniBatches; m++) steps.Add(order[(m * rows / miniBatches)..((m + 1) * rows / miniBatches)]);
        }
        return [.. steps];
    }

    /// <summary>
    /// A step's optimizer steps as the job's settings cut them: <see cref="Steps"/>, and with mini-batch order
    /// long-together each epoch's long sequences gathered (<see cref="LongTogether"/>) for rl.trainingReplicas replicas.
    /// </summary>
    /// <param name="tokens">Each sample's tokens, prompt and response.</param>
    public static int[][] For(RlSpec rl, long jobSeed, int iteration, IReadOnlyList<long> tokens)
    {
        var steps = Steps(tokens.Count, rl.Epochs, rl.MiniBatches, jobSeed, iteration);
        return rl.MiniBatchOrder == MiniBatchOrder.LongTogether
            ? [.. steps.Chunk(rl.MiniBatches).SelectMany(epoch => LongTogether(epoch, tokens, rl.TrainingReplicas))]
            : steps;
    }

    /// <summary>
    /// One epoch's mini-batches with its long sequences gathered: a sequence is long when it holds more than half
    /// of a replica's even share of a mini-batch's tokens (total / (mini-batches x replicas x 2)); longest first,
    /// each mini-batch takes up to one per replica, then fills with the others in their shuffled order, each
    /// mini-batch keeping its size. Why: an optimizer step waits for its slowest replica and a long sequence
    /// trains alone on one (attention grows with its square), so with one in every mini-batch every step
    /// waited for one (measured on the emulated H20 reasoning-32k step: 139 s of training, 86-98 s gathered).
    /// The short ones keep their shuffle; the long ones' optimizer steps come first.
    /// </summary>
    public static int[][] LongTogether(int[][] miniBatches, IReadOnlyList<long> tokens, int replicas)
    {
        if (replicas < 1) throw new ArgumentOutOfRangeException(nameof(replicas), replicas, "at least one replica");
        int[] rows = [.. miniBatches.SelectMany(m => m)];
        var threshold = rows.Sum(k => (double)tokens[k]) / (2.0 * miniBatches.Length * replicas);
        var longest = new Queue<int>(rows.Where(k => tokens[k] > threshold).OrderByDescending(k => tokens[k]).ThenBy(k => k));
        var others = new Queue<int>(rows.Where(k => tokens[k] <= threshold));
        return [.. miniBatches.Select(m =>
        {
            var batch = new List<int>(m.Length);
            while (batch.Count < Math.Min(replicas, m.Length) && longest.TryDequeue(out var k)) batch.Add(k);
            while (batch.Count < m.Length) batch.Add(others.TryDequeue(out var k) ? k : longest.Dequeue());
            return batch.ToArray();
        })];
    }

    /// <summary>Replica r's contiguous share of a mini-batch (the pipeline's replicas and micro-batches).</summary>
    public static T[] Share<T>(T[] miniBatch, int replica, int replicas) =>
        miniBatch[(replica * miniBatch.Length / replicas)..((replica + 1) * miniBatch.Length / replicas)];

    /// <summary>
    /// A mini-batch's positions split into one share per data-parallel replica with balanced tokens
    /// (verl's sequence-length balancing): an optimizer step waits for its slowest replica, and with
    /// long-tailed responses a contiguous share can hold several of the longest. Longest first, each
    /// to the replica with the fewest tokens so far (ties: the lower replica, then the earlier position;
    /// within 4/3 of the best split); each share in mini-batch order, so the split is a pure function
    /// of the lengths. Shares differ in size by design; with equal lengths they are as even as counts allow.
    /// </summary>
    public static int[][] BalancedShares(IReadOnlyList<long> tokens, int replicas)
    {
        if (replicas < 1) throw new ArgumentOutOfRangeException(nameof(replicas), replicas, "at least one replica");
        var shares = Enumerable.Range(0, replicas).Select(_ => new List<int>()).ToArray();
        var load = new long[replicas];
        foreach (var k in Enumerable.Range(0, tokens.Count).OrderByDescending(k => tokens[k]).ThenBy(k => k))
        {
            var r = 0;
            for (var j = 1; j < replicas; j++)
            {
                if (load[j] < load[r] || (load[j] == load[r] && shares[j].Count < shares[r].Count)) r = j;
            }
            shares[r].Add(k);
            load[r] += tokens[k];
        }
        return [.. shares.Select(s => s.Order().ToArray())];
    }
}
