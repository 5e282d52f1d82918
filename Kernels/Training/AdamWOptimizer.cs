using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Kernels.Training;

/// <summary>TorchSharp's AdamW driven by a schedule, with global gradient-norm clipping and saveable state.</summary>
public sealed class AdamWOptimizer : IDisposable
{
    private readonly Parameter[] parameters;
    private readonly AdamW adamW;

    public AdamWOptimizer(IEnumerable<Parameter> parameters, OptimizerOptions options)
    {
        Options = options.Validated();
        this.parameters = parameters.Where(p => p.requires_grad).ToArray();
        adamW = optim.AdamW(this.parameters, options.LearningRate, options.Beta1, options.Beta2, options.Epsilon, options.WeightDecay);
    }

    public OptimizerOptions Options { get; }
    /// <summary>How many updates have been applied; the schedule's position.</summary>
    public int Steps { get; private set; }

    /// <summary>sum of squared gradient entries over this optimizer's parameters: add these up across stages or shards for a global norm.</summary>
    public double GradNormSquared()
    {
        using var scope = NewDisposeScope();
        return parameters.Where(p => p.grad is not null).Sum(p => p.grad!.to(float64).square().sum().item<double>());
    }

    /// <summary>
    /// Clips by the global gradient norm (this optimizer's own unless the norm over all stages is given:
    /// every stage must scale by the same factor), sets the scheduled rate, updates, clears the gradients.
    /// Returns the norm before clipping and the rate used.
    /// </summary>
    public (double GradNorm, double LearningRate) Step(double? globalGradNorm = null)
    {
        var norm = ClipGradients(globalGradNorm);
        var rate = Options.LearningRateAt(Steps);
        foreach (var group in adamW.ParamGroups) group.LearningRate = rate;
        adamW.step();
        adamW.zero_grad();
        Steps++;
        return (norm, rate);
    }

    /// <summary>Scales the gradients by MaxGradNorm / (norm + 1e-6) when the norm exceeds MaxGradNorm; returns the norm.</summary>
    public double ClipGradients(double? globalGradNorm = null)
    {
        var norm = globalGradNorm ?? Math.Sqrt(GradNormSquared());
        if (Options.MaxGradNorm > 0 && norm > Options.MaxGradNorm)
        {
            var scale = Options.MaxGradNorm / (norm + 1e-6);
            using var _ = no_grad();
            foreach (var p in parameters) p.grad?.mul_(scale);
        }
        return norm;
    }

    /// <summary>Writes the step count and AdamW's moments.</summary>
    public void Save(Stream stream)
    {
        using var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        writer.Write(Steps);
        adamW.save_state_dict(writer);
    }

    public void Load(Stream stream)
    {
        using var reader = new BinaryReader(stream, System.Text.Encoding.UTF8, leaveOpen: true);
        Steps = reader.ReadInt32();
        adamW.load_state_dict(reader);
    }

    public void Dispose() => adamW.Dispose();
}
