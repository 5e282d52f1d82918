using Kernels.Model;
using Kernels.Rl;
using static TorchSharp.torch;

namespace Kernels.Preference;

/// <summary>Which preference loss: DPO's sigmoid (Rafailov et al., 2023) or IPO's squared one (Azar et al., 2023).</summary>
public enum PreferenceLoss { Sigmoid, Ipo }

/// <summary>
/// A pair as a trainer sees it: the prompt's and both responses' tokens, and the frozen reference's sequence
/// log-probs of each response (sums over its tokens at temperature 1), computed once before training.
/// </summary>
public sealed record PreferenceExample(int[] Prompt, int[] Chosen, int[] Rejected, float RefChosen, float RefRejected);

/// <summary>
/// Sums over one replica's share of a batch of pairs, so that the shares of all replicas add up: the loss,
/// the implicit rewards r = beta (log pi(y) - log ref(y)) of the chosen and rejected responses, their margin,
/// and how many pairs have the chosen response's reward above the rejected one's.
/// </summary>
public sealed record PreferenceSums(double Pairs, double Loss, double ChosenReward, double RejectedReward, double Correct)
{
    public static PreferenceSums Zero { get; } = new(0, 0, 0, 0, 0);

    public PreferenceSums Add(PreferenceSums other) => new(Pairs + other.Pairs, Loss + other.Loss, ChosenReward + other.ChosenReward,
        RejectedReward + other.RejectedReward, Correct + other.Correct);

    public double MeanLoss => Pairs == 0 ? 0 : Loss / Pairs;

    public double MeanMargin => Pairs == 0 ? 0 : (ChosenReward - RejectedReward) / Pairs;

    public double Accuracy => Pairs == 0 ? 0 : Correct / Pairs;
}

/// <summary>
/// The preference losses' backward pass over one replica's share of a batch of pairs. The loss is a mean
/// over the whole batch: this share's sum divided by <c>batchPairs</c>, so summing the replicas' gradients
/// gives the gradient of the batch as one, as data parallelism must.
/// </summary>
public static class PreferenceUpdate
{
    /// <summary>
    /// L = sum over this share's pairs of l(pair) / P, P the batch's pairs, with l DPO's -log sigmoid(beta h)
    /// or IPO's (h - 1/(2 beta))^2, h the log-ratio margin (see CoreAlgorithms.DpoLoss and IpoLoss; IPO on
    /// log-probs averaged over each response's tokens).
    /// </summary>
    public static PreferenceSums Backward(Transformer policy, IReadOnlyList<PreferenceExample> pairs, double batchPairs, PreferenceLoss loss, double beta)
    {
        if (pairs.Count == 0) return PreferenceSums.Zero;
        using var scope = NewDisposeScope();
        var (mean, sums) = Loss(policy, pairs, loss, beta);
        using var s = new Scalars();
        mean.mul(s[pairs.Count / batchPairs]).backward();
        return sums;
    }

    /// <summary>The same sums without a backward pass (held-out pairs).</summary>
    public static PreferenceSums Evaluate(Transformer policy, IReadOnlyList<PreferenceExample> pairs, PreferenceLoss loss, double beta)
    {
        if (pairs.Count == 0) return PreferenceSums.Zero;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return Loss(policy, pairs, loss, beta).Sums;
    }

    /// <summary>
    /// Each row's sequence log-prob, log pi(response | prompt) = sum_j log p(token j | prompt, response[..j]),
    /// at temperature 1 (the reference's, computed once per pair). With a fixed <c>shape</c> a row's result does not depend on the others.
    /// </summary>
    public static float[] SequenceLogProbs(Transformer model, IReadOnlyList<(int[] Prompt, int[] Response)> rows, (int Rows, int Width)? shape = null) =>
        [.. ResponseScoring.LogProbs(model, rows, 1.0, shape).Select(r => r.Sum())];

    /// <summary>
    /// The rows a model scores for <paramref name="pairs"/>: every pair's chosen response, then every pair's
    /// rejected one, as one padded batch on <paramref name="model"/>'s device (a first pipeline stage's input).
    /// </summary>
    public static ResponseBatch Batch(Transformer model, IReadOnlyList<PreferenceExample> pairs) =>
        new(pairs.Select(p => (p.Prompt, p.Chosen)).Concat(pairs.Select(p => (p.Prompt, p.Rejected))).ToArray(), ResponseScoring.DeviceOf(model));

    /// <summary>
    /// The loss of <see cref="Backward"/> from a language-model head's output over <see cref="Batch"/> [2P, T, V]
    /// (a last pipeline stage's), already scaled by these pairs over <paramref name="batchPairs"/>, and their sums.
    /// </summary>
    public static (Tensor Loss, PreferenceSums Sums) Loss(Tensor output, ResponseBatch batch, IReadOnlyList<PreferenceExample> pairs, double batchPairs, PreferenceLoss loss, double beta)
    {
        var (tokenLogProbs, _) = ResponseScoring.TokenLogProbs(output, batch, 1.0);
        var sequence = (tokenLogProbs * batch.Mask).sum(1);
        var lengths = batch.Mask.sum(1);
        var n = pairs.Count;
        var (mean, sums) = FromSequences(sequence[..n], sequence[n..], lengths[..n], lengths[n..], pairs, loss, beta);
        using var s = new Scalars();
        return (mean.mul(s[n / batchPairs]), sums);
    }

    /// <summary>
    /// The sums of <paramref name="pairs"/> from the policy's sequence log-probs of their chosen and rejected
    /// responses, computed elsewhere (a scoring worker's, of published weights): the same formulas as training's.
    /// </summary>
    public static PreferenceSums Sums(IReadOnlyList<PreferenceExample> pairs, float[] chosen, float[] rejected, PreferenceLoss loss, double beta)
    {
        if (pairs.Count == 0) return PreferenceSums.Zero;
        if (chosen.Length != pairs.Count || rejected.Length != pairs.Count) throw new ArgumentException($"{pairs.Count} pairs need as many chosen and rejected log-probs, not {chosen.Length} and {rejected.Length}");
        using var scope = NewDisposeScope();
        var lengths = (Func<PreferenceExample, int[]> response) => tensor(pairs.Select(p => (float)response(p).Length).ToArray());
        return FromSequences(tensor(chosen), tensor(rejected), lengths(p => p.Chosen), lengths(p => p.Rejected), pairs, loss, beta).Sums;
    }

    /// <summary>The mean loss over <paramref name="pairs"/> (with its graph) and their sums.</summary>
    private static (Tensor Mean, PreferenceSums Sums) Loss(Transformer policy, IReadOnlyList<PreferenceExample> pairs, PreferenceLoss loss, double beta)
    {
        var batch = Batch(policy, pairs);
        return Loss(policy.Forward(batch.Tokens), batch, pairs, pairs.Count, loss, beta);
    }

    /// <summary>The mean loss over the pairs from sequence log-probs [P] and response lengths [P], and their sums.</summary>
    private static (Tensor Mean, PreferenceSums Sums) FromSequences(Tensor chosen, Tensor rejected, Tensor chosenLengths, Tensor rejectedLengths,
        IReadOnlyList<PreferenceExample> pairs, PreferenceLoss loss, double beta)
    {
        var n = pairs.Count;
        var device = chosen.device;
        var refChosen = tensor(pairs.Select(p => p.RefChosen).ToArray(), device: device);
        var refRejected = tensor(pairs.Select(p => p.RefRejected).ToArray(), device: device);
        if (loss == PreferenceLoss.Ipo)
        {
            // IPO compares log-probs averaged over each response's tokens, its reference's too.
            (chosen, rejected) = (chosen / chosenLengths, rejected / rejectedLengths);
            (refChosen, refRejected) = (refChosen / chosenLengths, refRejected / rejectedLengths);
        }
        var mean = loss == PreferenceLoss.Sigmoid
            ? CoreAlgorithms.DpoLoss(chosen, rejected, refChosen, refRejected, beta).Loss
            : CoreAlgorithms.IpoLoss(chosen, rejected, refChosen, refRejected, beta);
        var chosenRewards = ((chosen - refChosen) * beta).detach().to(float64).cpu().data<double>().ToArray();
        var rejectedRewards = ((rejected - refRejected) * beta).detach().to(float64).cpu().data<double>().ToArray();
        var correct = chosenRewards.Zip(rejectedRewards).Count(r => r.First > r.Second);
        return (mean, new PreferenceSums(n, mean.item<float>() * n, chosenRewards.Sum(), rejectedRewards.Sum(), correct));
    }
}
