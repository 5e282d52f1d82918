using Kernels.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Checkpoints;

/// <summary>
/// Merging models of one architecture tensor by tensor (as the Step-Audio and Step-Video recipes merge
/// their DPO and RL models; mergekit's "linear" and "slerp" methods). The models must hold the same
/// tensor names with the same shapes; the first that differs is named. Results are float32 tensors,
/// cast back to the first model's dtype of each tensor.
/// </summary>
public static class ModelMerge
{
    /// <summary>Linear: theta = sum_i w_i theta_i, the weights as given (they usually sum to 1).</summary>
    public static Dictionary<string, Tensor> Linear(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models, IReadOnlyList<double> weights)
    {
        if (models.Count < 2) throw new ArgumentException($"a merge takes two or more models, not {models.Count}", nameof(models));
        if (weights.Count != models.Count) throw new ArgumentException($"{weights.Count} weights for {models.Count} models: give one weight per model", nameof(weights));
        if (weights.Any(w => !double.IsFinite(w))) throw new ArgumentException($"weights must be finite numbers ({string.Join(", ", weights)})", nameof(weights));
        CheckAlike(models);
        return models[0].ToDictionary(p => p.Key, p =>
        {
            using var scope = NewDisposeScope();
            var sum = zeros_like(p.Value, ScalarType.Float32);
            for (var m = 0; m < models.Count; m++)
            {
                // Held: an implicitly converted Scalar can be freed by a collection while libtorch reads it.
                using Scalar weight = weights[m];
                sum.add_(models[m][p.Key].to(ScalarType.Float32), weight);
            }
            return sum.to(p.Value.dtype).MoveToOuterDisposeScope();
        });
    }

    /// <summary>
    /// Spherical linear interpolation of two models, each tensor flattened to a vector:
    /// theta = sin((1 - t) Omega) / sin(Omega) a + sin(t Omega) / sin(Omega) b, where cos(Omega) = a.b / (|a| |b|);
    /// linear, (1 - t) a + t b, where the two are (nearly) parallel or either is zero.
    /// </summary>
    public static Dictionary<string, Tensor> Slerp(IReadOnlyDictionary<string, Tensor> a, IReadOnlyDictionary<string, Tensor> b, double t)
    {
        if (!(t >= 0 && t <= 1)) throw new ArgumentOutOfRangeException(nameof(t), t, "slerp's t is between 0 (the first model) and 1 (the second)");
        CheckAlike([a, b]);
        return a.ToDictionary(p => p.Key, p =>
        {
            using var scope = NewDisposeScope();
            var (x, y) = (p.Value.to(ScalarType.Float64), b[p.Key].to(ScalarType.Float64));
            var (normX, normY) = (x.norm().item<double>(), y.norm().item<double>());
            var cos = normX == 0 || normY == 0 ? 1 : Math.Clamp(x.flatten().dot(y.flatten()).item<double>() / (normX * normY), -1, 1);
            var omega = Math.Acos(cos);
            var (wa, wb) = Math.Sin(omega) < 1e-6 ? (1 - t, t) : (Math.Sin((1 - t) * omega) / Math.Sin(omega), Math.Sin(t * omega) / Math.Sin(omega));
            using Scalar scaleA = wa, scaleB = wb;
            return (x * scaleA).add(y * scaleB, Scalars.One).to(p.Value.dtype).MoveToOuterDisposeScope();
        });
    }

    /// <summary>Refuses models whose tensor names or shapes differ, naming the first tensor that does.</summary>
    private static void CheckAlike(IReadOnlyList<IReadOnlyDictionary<string, Tensor>> models)
    {
        var first = models[0];
        for (var m = 1; m < models.Count; m++)
        {
            if (first.Keys.FirstOrDefault(k => !models[m].ContainsKey(k)) is { } missing) throw new InvalidDataException($"model {m + 1} has no tensor '{missing}' (model 1 has)");
            if (models[m].Keys.FirstOrDefault(k => !first.ContainsKey(k)) is { } extra) throw new InvalidDataException($"model {m + 1} has a tensor '{extra}' that model 1 does not");
            if (first.FirstOrDefault(p => !p.Value.shape.SequenceEqual(models[m][p.Key].shape)) is { Key: not null } differs)
            {
                throw new InvalidDataException($"tensor '{differs.Key}' is [{string.Join(", ", differs.Value.shape)}] in model 1 but [{string.Join(", ", models[m][differs.Key].shape)}] in model {m + 1}");
            }
        }
    }
}
