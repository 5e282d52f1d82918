using static TorchSharp.torch;

namespace Kernels.Audio;

/// <summary>
/// A k-means codebook over feature frames: k centroids, and each frame's code the nearest one (Euclidean).
/// Learned with Lloyd's iterations from a seeded k-means++ start, on TorchSharp tensors.
/// </summary>
public sealed class Codebook
{
    private Codebook(float[][] centroids) => Centroids = centroids;

    public float[][] Centroids { get; }

    public int Size => Centroids.Length;

    public static Codebook FromCentroids(float[][] centroids) =>
        centroids.Length > 0 && centroids.All(c => c.Length == centroids[0].Length) ? new Codebook(centroids)
            : throw new ArgumentException("a codebook needs at least one centroid, all of one width");

    /// <summary>k-means of <paramref name="frames"/> into <paramref name="size"/> codes: k-means++ seeding, then <paramref name="iterations"/> Lloyd steps; an emptied code takes the frame farthest from its own.</summary>
    public static Codebook Learn(IReadOnlyList<float[]> frames, int size, long seed, int iterations = 25)
    {
        if (frames.Count < size) throw new ArgumentException($"{frames.Count} frames are too few for {size} codes");
        using var scope = NewDisposeScope();
        var x = tensor(frames.SelectMany(f => f).ToArray()).view(frames.Count, frames[0].Length);
        var random = new Random((int)(seed % int.MaxValue));
        // k-means++: each next centroid drawn with probability proportional to the squared distance to the nearest chosen.
        var chosen = new List<long> { random.NextInt64(frames.Count) };
        var nearest = (x - x[chosen[0]]).pow(2).sum(1);
        while (chosen.Count < size)
        {
            var weights = nearest.data<float>().ToArray();
            var total = weights.Sum(w => (double)w);
            var target = random.NextDouble() * total;
            long pick = 0;
            for (double run = 0; pick < weights.Length - 1 && (run += weights[pick]) < target; pick++)
            {
            }
            chosen.Add(pick);
            nearest = minimum(nearest, (x - x[pick]).pow(2).sum(1));
        }
        var centroids = x.index_select(0, tensor(chosen.ToArray())).clone();
        for (var i = 0; i < iterations; i++)
        {
            var distances = cdist(x, centroids);
            var codes = distances.argmin(1);
            var sums = zeros_like(centroids).index_add_(0, codes, x, 1);
            var counts = zeros(size).index_add_(0, codes, ones(frames.Count), 1);
            var empty = (counts == 0).nonzero().flatten().data<long>().ToArray();
            centroids = where((counts > 0).unsqueeze(1), sums / counts.clamp_min(1).unsqueeze(1), centroids);
            if (empty.Length > 0)
            {
                var own = distances.gather(1, codes.unsqueeze(1)).squeeze(1);
                var far = own.topk(empty.Length).indexes;
                centroids.index_copy_(0, tensor(empty), x.index_select(0, far));
            }
        }
        var rows = centroids.data<float>().ToArray();
        var width = frames[0].Length;
        return new Codebook([.. Enumerable.Range(0, size).Select(k => rows[(k * width)..((k + 1) * width)])]);
    }

    /// <summary>Each frame's nearest centroid.</summary>
    public int[] Encode(IReadOnlyList<float[]> frames)
    {
        if (frames.Count == 0) return [];
        using var scope = NewDisposeScope();
        var x = tensor(frames.SelectMany(f => f).ToArray()).view(frames.Count, frames[0].Length);
        var c = tensor(Centroids.SelectMany(f => f).ToArray()).view(Size, Centroids[0].Length);
        return [.. cdist(x, c).argmin(1).data<long>().ToArray().Select(k => (int)k)];
    }
}
