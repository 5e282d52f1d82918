namespace Grains.Data;

/// <summary>
/// How an iteration's samples become optimizer steps: each epoch a seeded shuffle cut into equal
/// mini-batches, and each mini-batch cut into one contiguous share per data-parallel replica. The
/// job trains by it and the emulated prediction times by it, so both see the same shares.
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

    /// <summary>Replica r's share of a mini-batch.</summary>
    public static T[] Share<T>(T[] miniBatch, int replica, int replicas) =>
        miniBatch[(replica * miniBatch.Length / replicas)..((replica + 1) * miniBatch.Length / replicas)];
}
