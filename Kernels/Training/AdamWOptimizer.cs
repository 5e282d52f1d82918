using Kernels.Model;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Kernels.Training;

/// <summary>
/// AdamW (decoupled weight decay) driven by a schedule, with global gradient-norm clipping and
/// saveable state. The update is written here rather than taken from TorchSharp's optimizer because
/// that one passes implicitly converted Scalars to native calls without keeping them alive: with
/// grains allocating on other threads, the garbage collector can finalize such a Scalar while libtorch
/// still reads it ("Unknown scalar type", or a crash). Here every Scalar and temporary lives until the
/// step ends.
/// </summary>
public sealed class AdamWOptimizer : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly Tensor[] firstMoments;
    private readonly Tensor[] secondMoments;

    public AdamWOptimizer(IEnumerable<Parameter> parameters, OptimizerOptions options)
    {
        Options = options.Validated();
        this.parameters = parameters.Where(p => p.requires_grad).ToArray();
        using var _ = no_grad();
        firstMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
        secondMoments = this.parameters.Select(p => zeros_like(p).DetachFromDisposeScope()).ToArray();
    }

    public OptimizerOptions Options { get; }
    /// <summary>How many updates have been applied; the schedule's position.</summary>
    public int Steps { get; private set; }

    /// <summary>sum of squared gradient entries over this optimizer's parameters: add these up across stages or shards for a global norm.</summary>
    public double GradNormSquared()
    {
        using var scope = NewDisposeScope();
        return parameters.Select(p => p.grad).Where(g => g is not null).Sum(g => g!.to(float64).pow(Scalars.Two).sum().item<double>());
    }

    /// <summary>
    /// Clips by the global gradient norm (this optimizer's own unless the norm over all stages is given:
    /// every stage must scale by the same factor), then with rate lr from the schedule and t = Steps + 1:
    /// p *= 1 - lr wd; m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    /// p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Clears the gradients.
    /// Returns the norm before clipping and the rate used.
    /// </summary>
    public (double GradNorm, double LearningRate) Step(double? globalGradNorm = null)
    {
        var norm = ClipGradients(globalGradNorm);
        var rate = Options.LearningRateAt(Steps);
        var t = Steps + 1;
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        using Scalar decay = 1 - rate * Options.WeightDecay, beta1 = Options.Beta1, beta2 = Options.Beta2;
        using Scalar gradShare = 1 - Options.Beta1, squareShare = 1 - Options.Beta2, epsilon = Options.Epsilon;
        using Scalar stepSize = -rate / (1 - Math.Pow(Options.Beta1, t)), biasCorrection2 = Math.Sqrt(1 - Math.Pow(Options.Beta2, t));
        for (var i = 0; i < parameters.Length; i++)
        {
            var p = parameters[i];
            if (p.grad is not { } g) continue;
            if (Options.WeightDecay > 0) p.mul_(decay);
            firstMoments[i].mul_(beta1).add_(g, gradShare);
            secondMoments[i].mul_(beta2).addcmul_(g, g, squareShare);
            p.addcdiv_(firstMoments[i], secondMoments[i].sqrt().div_(biasCorrection2).add_(epsilon, Scalars.One), stepSize);
        }
        foreach (var p in parameters) p.grad = null;
        Steps++;
        return (norm, rate);
    }

    /// <summary>Scales the gradients by MaxGradNorm / (norm + 1e-6) when the norm exceeds MaxGradNorm; returns the norm.</summary>
    public double ClipGradients(double? globalGradNorm = null)
    {
        var norm = globalGradNorm ?? Math.Sqrt(GradNormSquared());
        if (Options.MaxGradNorm > 0 && norm > Options.MaxGradNorm)
        {
            using var scope = NewDisposeScope();
            using var _ = no_grad();
            using Scalar scale = Options.MaxGradNorm / (norm + 1e-6);
            foreach (var p in parameters) p.grad?.mul_(scale);
        }
        return norm;
    }

    /// <summary>Writes the step count and both moments of every parameter.</summary>
    public void Save(Stream stream)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Steps);
        writer.Write(parameters.Length);
        foreach (var moment in firstMoments.Concat(secondMoments)) moment.Save(writer);
    }

    public void Load(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        var steps = reader.ReadInt32();
        var count = reader.ReadInt32();
        if (count != parameters.Length) throw new InvalidDataException($"optimizer state for {count} parameters does not fit {parameters.Length}");
        foreach (var moment in firstMoments.Concat(secondMoments)) moment.Load(reader);
        Steps = steps;
    }

    public void Dispose()
    {
        foreach (var moment in firstMoments.Concat(secondMoments)) moment.Dispose();
    }
}
