using Kernels.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Ranking;

/// <summary>
/// Predicts how long a prompt's responses run compared with the rest of their step (what
/// <see cref="LengthRanker"/> fits it to: their mean log length over the step's median) from the prompt's tokens: a linear model over hashed token unigram and
/// bigram counts, refit by ridge regression on the most recent observed prompts after each step. Counts
/// carry what makes a response long where length adds up over what the prompt asks for (the run-length
/// task's answer is the sum of its runs' counts, each a digit or a digit pair); the ridge's closed form
/// makes each refit exact and deterministic, with no learning rate to tune while lengths drift. The
/// buckets are many (16,384) because collisions cost recall (on the run-length job, five seeds, prompt recall
/// over steps 11-20: 1,024 buckets 0.797, 4,096 0.811, 8,192 and up 0.823, where none of the task's unigrams
/// and bigrams collide any more), and the solve only sees the buckets the window's prompts fill, so its size is
/// bounded by the window, not the buckets.
/// </summary>
public sealed class PromptLengthModel(int buckets = 16384, int window = 2048, double ridge = 1.0)
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
    /// A bucket no prompt of the window fills has a zero column, so its weight is 0 and the solve keeps only
    /// the c filled ones; of the n prompts and c columns it solves the smaller square: the primal above when
    /// c &lt;= n, else its dual, w = X^T (X X^T + lambda I)^-1 y (the same w: X^T (X X^T + lambda I) = (X^T X + lambda I) X^T).
    /// </summary>
    public double[] Solve()
    {
        if (seen.Count == 0) throw new InvalidOperationException("no observed prompt to fit the length model to");
        var rows = seen.Select(s => Features(s.Prompt)).ToArray();
        var filled = rows.SelectMany(r => r.Keys).Distinct().Order().ToArray();
        var column = filled.Select((bucket, c) => (bucket, c)).ToDictionary(x => x.bucket, x => x.c);
        var dense = new double[rows.Length * filled.Length];
        for (var r = 0; r < rows.Length; r++)
        {
            foreach (var (bucket, count) in rows[r]) dense[r * filled.Length + column[bucket]] = count;
        }
        double[] solved;
        // The scope holds every temporary until the result is copied out: outside one, a collection could
        // free a temporary's native tensor while a native call still reads it.
        using (NewDisposeScope())
        {
            var x = tensor(dense, [rows.Length, filled.Length], ScalarType.Float64);
            var y = tensor(seen.Select(s => s.Target).ToArray(), [rows.Length, 1], ScalarType.Float64);
            // Scalars held, and added with a held alpha: implicit ones can be freed by a collection mid-call.
            using Scalar lambda = ridge;
            var w = filled.Length <= rows.Length
                ? linalg.solve(x.t().matmul(x).add(eye(filled.Length, dtype: ScalarType.Float64) * lambda, Scalars.One), x.t().matmul(y))
                : x.t().matmul(linalg.solve(x.matmul(x.t()).add(eye(rows.Length, dtype: ScalarType.Float64) * lambda, Scalars.One), y));
            solved = w.squeeze(1).data<double>().ToArray();
        }
        var weights = new double[buckets + 1];
        for (var c = 0; c < filled.Length; c++) weights[filled[c]] = solved[c];
        return weights;
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
        var sum = 0.0;
        foreach (var (bucket, count) in Features(prompt)) sum += count * weights[bucket];
        return sum;
    }

    /// <summary>
    /// A bias of 1 (at index <see cref="Buckets"/>) and the counts of each token and each adjacent pair, hashed into
    /// the buckets (FNV-1a over the ids): the filled buckets only.
    /// </summary>
    public Dictionary<int, double> Features(IReadOnlyList<int> prompt)
    {
        var features = new Dictionary<int, double> { [buckets] = 1 };
        for (var i = 0; i < prompt.Count; i++)
        {
            Add(Bucket(prompt[i]));
            if (i > 0) Add(Bucket(prompt[i - 1], prompt[i]));
        }
        return features;

        void Add(int bucket) => features[bucket] = features.GetValueOrDefault(bucket) + 1;
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
