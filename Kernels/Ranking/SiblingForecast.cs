using MathNet.Numerics.Distributions;

namespace Kernels.Ranking;

/// <summary>
/// A step's forecast once some of its responses have ended: a prompt's siblings' lengths so far say how long its
/// others will run (as Seer and RhymeRL use them). Of the n_b responses that have begun (together, about), the n_e
/// that ended are the n_b's shortest: each one's rank among them is known, and so is its rank score,
/// Phi^-1((rank - 1/2) / n_b), as the ranker scores a whole step. One still running ranks above all of them; its
/// expected score is the standard normal's mean above a = Phi^-1(n_e / n_b), phi(a) / (1 - Phi(a)). One that has not
/// begun (waiting in its worker's queue) says nothing: 0, the middle. A prompt's score is its responses' mean, shrunk
/// toward its launch forecast (weight w):
///   s_p = (sum of its ended responses' scores + running_p * phi(a) / (1 - Phi(a)) + w * launch_p) / (responses_p + w).
/// </summary>
public static class SiblingForecast
{
    /// <param name="launch">Each prompt's forecast when the step was launched (rank-score units, 0 = the step's middle).</param>
    /// <param name="ended">Each prompt's responses that have ended so far: their lengths.</param>
    /// <param name="began">Each prompt's responses that have begun (the ended among them); all of them where every response began with the step.</param>
    /// <param name="responses">Each prompt's responses in the step.</param>
    /// <param name="launchWeight">How many responses' worth the launch forecast counts for.</param>
    public static double[] Predict(IReadOnlyList<double> launch, IReadOnlyList<IReadOnlyList<int>> ended, IReadOnlyList<int> began, IReadOnlyList<int> responses, double launchWeight = 4)
    {
        if (launch.Count != ended.Count || launch.Count != began.Count || launch.Count != responses.Count)
        {
            throw new ArgumentException($"{launch.Count} launch forecasts, {ended.Count} lists of ended responses, {began.Count} counts of begun and {responses.Count} of all responses: one of each per prompt");
        }
        if (launchWeight < 0) throw new ArgumentOutOfRangeException(nameof(launchWeight), launchWeight, "the launch forecast's weight cannot be negative");
        for (var p = 0; p < launch.Count; p++)
        {
            if (ended[p].Count > began[p] || began[p] > responses[p]) throw new ArgumentException($"prompt {p}: {ended[p].Count} responses ended, {began[p]} begun, of its {responses[p]}");
            if (ended[p].Any(l => l < 0)) throw new ArgumentException($"prompt {p}: a response length below 0");
        }
        var n = began.Sum();
        var endedLengths = ended.SelectMany(e => e).Select(l => (double)l).ToArray();
        var ranks = RankQuality.Ranks(endedLengths);
        var a = endedLengths.Length == 0 ? double.NegativeInfinity : Normal.InvCDF(0, 1, (double)endedLengths.Length / n);
        var running = endedLengths.Length == n ? 0 : Normal.PDF(0, 1, a) / (1 - Normal.CDF(0, 1, a));
        var next = 0;
        var scores = new double[launch.Count];
        for (var p = 0; p < launch.Count; p++)
        {
            var sum = 0.0;
            for (var r = 0; r < ended[p].Count; r++) sum += Normal.InvCDF(0, 1, (ranks[next++] - 0.5) / n);
            var denominator = responses[p] + launchWeight;
            scores[p] = denominator == 0 ? 0 : (sum + (began[p] - ended[p].Count) * running + launchWeight * launch[p]) / denominator;
        }
        return scores;
    }
}
