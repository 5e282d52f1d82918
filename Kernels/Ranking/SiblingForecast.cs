using MathNet.Numerics.Distributions;

namespace Kernels.Ranking;

/// <summary>
/// A step's forecast once some of its responses have ended: a prompt's siblings' lengths so far say how long its
/// others will run (as Seer and RhymeRL use them). Each response that has begun is scored as the ranker scores a
/// whole step, Phi^-1 of its place in the lengths' distribution, here the Kaplan-Meier estimate F over the begun
/// responses: an ended one's length is an event, a running one is censored at its tokens so far (it will run
/// longer). An ended response scores Phi^-1 of the middle of F's step at its length (with nothing censored below
/// it, (rank - 1/2) / n_b among the n_b begun); a running one with t tokens so far the standard normal's mean above
/// a = Phi^-1(F(t)), phi(a) / (1 - Phi(a)) (0 while F(t) = 0: nothing shorter has ended); one that has not begun
/// (waiting in its worker's queue) says nothing: 0, the middle. Responses begun together have each run at least as
/// long as every ended one, so a running one's tokens so far may be left out (taken as above them all). A prompt's
/// score is its responses' mean, shrunk toward its launch forecast (weight w):
///   s_p = (sum of its begun responses' scores + w * launch_p) / (responses_p + w).
/// </summary>
public static class SiblingForecast
{
    /// <param name="launch">Each prompt's forecast when the step was launched (rank-score units, 0 = the step's middle).</param>
    /// <param name="ended">Each prompt's responses that have ended so far: their lengths.</param>
    /// <param name="began">Each prompt's responses that have begun (the ended among them); all of them where every response began with the step.</param>
    /// <param name="responses">Each prompt's responses in the step.</param>
    /// <param name="launchWeight">How many responses' worth the launch forecast counts for.</param>
    /// <param name="runningSoFar">Each prompt's running responses' tokens so far (began - ended of them); none: begun together, each above every ended one.</param>
    public static double[] Predict(IReadOnlyList<double> launch, IReadOnlyList<IReadOnlyList<int>> ended, IReadOnlyList<int> began, IReadOnlyList<int> responses,
        double launchWeight = 4, IReadOnlyList<IReadOnlyList<int>>? runningSoFar = null)
    {
        if (launch.Count != ended.Count || launch.Count != began.Count || launch.Count != responses.Count || (runningSoFar is not null && runningSoFar.Count != launch.Count))
        {
            throw new ArgumentException($"{launch.Count} launch forecasts, {ended.Count} lists of ended responses, {began.Count} counts of begun, {responses.Count} of all responses{(runningSoFar is null ? "" : $" and {runningSoFar.Count} lists of running ones")}: one of each per prompt");
        }
        if (launchWeight < 0) throw new ArgumentOutOfRangeException(nameof(launchWeight), launchWeight, "the launch forecast's weight cannot be negative");
        for (var p = 0; p < launch.Count; p++)
        {
            if (ended[p].Count > began[p] || began[p] > responses[p]) throw new ArgumentException($"prompt {p}: {ended[p].Count} responses ended, {began[p]} begun, of its {responses[p]}");
            if (ended[p].Any(l => l < 0)) throw new ArgumentException($"prompt {p}: a response length below 0");
            if (runningSoFar is not null && runningSoFar[p].Count != began[p] - ended[p].Count)
            {
                throw new ArgumentException($"prompt {p}: {runningSoFar[p].Count} running responses' tokens so far for its {began[p] - ended[p].Count} running");
            }
        }
        var running = runningSoFar ?? [.. Enumerable.Range(0, launch.Count).Select(p => Enumerable.Repeat(int.MaxValue, began[p] - ended[p].Count).ToArray())];
        var distribution = new KaplanMeier([.. ended.SelectMany(e => e)], [.. running.SelectMany(r => r)]);
        var scores = new double[launch.Count];
        for (var p = 0; p < launch.Count; p++)
        {
            var sum = ended[p].Sum(distribution.EndedScore) + running[p].Sum(distribution.RunningScore);
            var denominator = responses[p] + launchWeight;
            scores[p] = denominator == 0 ? 0 : (sum + launchWeight * launch[p]) / denominator;
        }
        return scores;
    }

    /// <summary>The Kaplan-Meier estimate of the lengths' distribution from ended lengths (events) and running responses' tokens so far (censored).</summary>
    private sealed class KaplanMeier
    {
        private readonly int[] lengths;
        // F just below and at each distinct ended length, ascending.
        private readonly double[] below;
        private readonly double[] at;

        public KaplanMeier(int[] ended, int[] censored)
        {
            Array.Sort(ended);
            Array.Sort(censored);
            lengths = [.. ended.Distinct()];
            (below, at) = (new double[lengths.Length], new double[lengths.Length]);
            var survival = 1.0;
            for (var i = 0; i < lengths.Length; i++)
            {
                var v = lengths[i];
                var atRisk = ended.Length - LowerBound(ended, v) + censored.Length - LowerBound(censored, v);
                var deaths = LowerBound(ended, v + 1) - LowerBound(ended, v);
                below[i] = 1 - survival;
                survival *= 1 - (double)deaths / atRisk;
                at[i] = 1 - survival;
            }
        }

        public double EndedScore(int length)
        {
            var i = Array.BinarySearch(lengths, length);
            return Normal.InvCDF(0, 1, (below[i] + at[i]) / 2);
        }

        public double RunningScore(int soFar)
        {
            var i = LowerBound(lengths, soFar == int.MaxValue ? soFar : soFar + 1) - 1;
            var f = i < 0 ? 0 : Math.Min(at[i], 1 - 1e-12);
            if (f <= 0) return 0;
            var a = Normal.InvCDF(0, 1, f);
            return Normal.PDF(0, 1, a) / (1 - Normal.CDF(0, 1, a));
        }

        /// <summary>The first index whose value is at least <paramref name="value"/>.</summary>
        private static int LowerBound(int[] sorted, int value)
        {
            var (low, high) = (0, sorted.Length);
            while (low < high)
            {
                var middle = (low + high) / 2;
                if (sorted[middle] < value) low = middle + 1;
                else high = middle;
            }
            return low;
        }
    }
}
