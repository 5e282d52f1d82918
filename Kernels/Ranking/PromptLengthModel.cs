using static TorchSharp.torch;

namespace Kernels.Ranking;

/// <summary>
/// Predicts how long a prompt's responses run compared with the rest of their step (the mean rank score
/// of <see cref="LengthRanker"/>) from the prompt's tokens: a linear model over hashed token unigram and
/// bigram counts, refit by ridge regression on the most recent observed prompts after each step. Counts
/// carry what makes a response long where length adds up over what the prompt asks for (the run-length
/// task's answer is the sum of its runs' counts, each a digit or a digit pair); the ridge's closed form
/// makes each refit exact and deterministic, with no learning rate to tune while lengths drift.
/// </summary>
public sealed class PromptLengthModel(int buckets = 1024, int window = 2048, double ridge = 1.0)
{
    private readonly Queue<(int[] Prompt, double Target)> seen = new();
    private double[]? weights;

    /// <summary>The window's prompts with their scores, oldest first: the fit follows from them (what a checkpoint keeps).</summary>
    public IReadOnlyList<(int[] Prompt, double Target)> Window => [.. seen];

    /// <summary>Forgets every prompt and the fit.</summary>
    public void Clear()
    {
        seen.Clear();
        weights = null;
    }

    /// <summary>Adds one prompt's observed score, forgetting the oldest beyond the window.</summary>
    public void Observe(IReadOnlyList<int> prompt, double target)
    {
        if (!double.IsFinite(target)) throw new ArgumentOutOfRangeException(nameof(target), target, "a finite score");
        seen.Enqueue(([.. prompt], target));
        while (seen.Count > window) seen.Dequeue();
    }

    /// <summary>The hashed feature buckets (the weights are one more: the bias).</summary>
    public int Buckets => buckets;

    /// <summary>The ridge penalty lambda.</summary>
    public double Ridge => ridge;

    /// <summary>Fits the weights to the window (<see cref="Solve"/>) and predicts with them.</summary>
    public void Fit()
    {
        if (seen.Count > 0) Use(Solve());
    }

    /// <summary>
    /// The weights that solve (X^T X + lambda I) w = X^T y over the window (the bias column unpenalized in
    /// effect: its count dominates lambda), without predicting with them: a job has them solved off its grain.
    /// </summary>
    public double[] Solve()
    {
        if (seen.Count == 0) throw new InvalidOperationException("no observed prompt to fit the length model to");
        using var scope = NewDisposeScope();
        var x = tensor(seen.SelectMany(s => Features(s.Prompt)).ToArray(), [seen.Count, buckets + 1], ScalarType.Float64);
        var y = tensor(seen.Select(s => s.Target).ToArray(), [seen.Count, 1], ScalarType.Float64);
        var gram = x.t().matmul(x) + eye(buckets + 1, dtype: ScalarType.Float64) * ridge;
        return linalg.solve(gram, x.t().matmul(y)).squeeze(1).data<double>().ToArray();
    }

    /// <summary>Predicts with <paramref name="fitted"/>: weights solved for a model of the same buckets.</summary>
    public void Use(double[] fitted)
    {
        if (fitted.Length != buckets + 1) throw new ArgumentException($"length model weights: {fitted.Length} given for {buckets} buckets and a bias ({buckets + 1} expected)", nameof(fitted));
        if (fitted.Any(w => !double.IsFinite(w))) throw new ArgumentException("length model weights: a weight that is not a finite number", nameof(fitted));
        weights = [.. fitted];
    }

    /// <summary>The prompt's predicted score: 0 (the middle) before the first fit.</summary>
    public double Predict(IReadOnlyList<int> prompt)
    {
        if (weights is null) return 0;
        var features = Features(prompt);
        var sum = 0.0;
        for (var i = 0; i < features.Length; i++) sum += features[i] * weights[i];
        return sum;
    }

    /// <summary>A bias of 1 and the counts of each token and each adjacent pair, hashed into the buckets (FNV-1a over the ids).</summary>
    private double[] Features(IReadOnlyList<int> prompt)
    {
        var features = new double[buckets + 1];
        features[buckets] = 1;
        for (var i = 0; i < prompt.Count; i++)
        {
            features[Bucket(prompt[i])]++;
            if (i > 0) features[Bucket(prompt[i - 1], prompt[i])]++;
        }
        return features;
    }

    private int Bucket(params int[] tokens)
    {
        var hash = 2166136261u ^ (uint)tokens.Length;
        foreach (var token in tokens)
        {
            foreach (var b in BitConverter.GetBytes(token)) hash = unchecked((hash ^ b) * 16777619u);
        }
        return (int)(hash % (uint)buckets);
    }
}
