namespace Kernels.Ranking;

/// <summary>How well predicted lengths rank the lengths that came: the figures StreamRL and Seer report for their predictors.</summary>
public static class RankQuality
{
    /// <summary>
    /// Recall of the longest share: with k = ceil(share x n), the fraction of the k items predicted longest
    /// (ties broken by index, so the figure is deterministic) whose actual value reaches the k-th largest
    /// actual value. Where actual values tie at that boundary any of them counts, so ties in what came
    /// (short integer lengths tie often) cannot make a prediction look worse than it is.
    /// </summary>
    public static double RecallOfLongest(IReadOnlyList<double> predicted, IReadOnlyList<double> actual, double share = 0.2)
    {
        Check(predicted, actual);
        if (share is <= 0 or > 1) throw new ArgumentOutOfRangeException(nameof(share), share, "a share in (0, 1]");
        var k = (int)Math.Ceiling(share * actual.Count);
        var threshold = actual.OrderDescending().ElementAt(k - 1);
        return Enumerable.Range(0, predicted.Count).OrderByDescending(i => predicted[i]).ThenBy(i => i).Take(k).Count(i => actual[i] >= threshold) / (double)k;
    }

    /// <summary>Spearman's rho: Pearson's correlation of the two lists' ranks, ties given their average rank; 0 when either list is constant.</summary>
    public static double SpearmanRho(IReadOnlyList<double> predicted, IReadOnlyList<double> actual)
    {
        Check(predicted, actual);
        var (a, b) = (Ranks(predicted), Ranks(actual));
        var (meanA, meanB) = (a.Average(), b.Average());
        double covariance = 0, varianceA = 0, varianceB = 0;
        for (var i = 0; i < a.Length; i++)
        {
            covariance += (a[i] - meanA) * (b[i] - meanB);
            varianceA += (a[i] - meanA) * (a[i] - meanA);
            varianceB += (b[i] - meanB) * (b[i] - meanB);
        }
        return varianceA == 0 || varianceB == 0 ? 0 : covariance / Math.Sqrt(varianceA * varianceB);
    }

    /// <summary>1-based ranks, ascending; equal values share the mean of the ranks they span.</summary>
    public static double[] Ranks(IReadOnlyList<double> values)
    {
        var order = Enumerable.Range(0, values.Count).OrderBy(i => values[i]).ToArray();
        var ranks = new double[values.Count];
        for (var start = 0; start < order.Length;)
        {
            var end = start;
            while (end + 1 < order.Length && values[order[end + 1]] == values[order[start]]) end++;
            for (var j = start; j <= end; j++) ranks[order[j]] = (start + end) / 2.0 + 1;
            start = end + 1;
        }
        return ranks;
    }

    private static void Check(IReadOnlyList<double> predicted, IReadOnlyList<double> actual)
    {
        if (predicted.Count != actual.Count) throw new ArgumentException($"{predicted.Count} predictions for {actual.Count} actual values");
        if (actual.Count == 0) throw new ArgumentException("nothing to rank");
    }
}
