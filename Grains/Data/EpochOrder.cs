namespace Grains.Data;

/// <summary>
/// The order a dataset's prompts are drawn in: a fresh seeded permutation per epoch, so the prompt of any
/// draw follows from the seed alone (nothing to save for a resume). Keeps only the current epoch's.
/// </summary>
public sealed class EpochOrder(long seed, int count)
{
    private readonly Dictionary<int, int[]> orders = [];

    /// <summary>The dataset index of the k-th prompt drawn since the job began.</summary>
    public int Index(long k)
    {
        var epoch = (int)(k / count);
        if (!orders.TryGetValue(epoch, out var order))
        {
            order = Enumerable.Range(0, count).ToArray();
            Seeds.Random(seed, epoch).Shuffle(order);
            orders.Clear();
            orders[epoch] = order;
        }
        return order[(int)(k % count)];
    }
}
