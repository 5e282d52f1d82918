using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Kernels.Training;

/// <summary>All of a model's gradients as one flat fp32 array, and back: what data-parallel replicas exchange.</summary>
public static class Gradients
{
    public static float[] Flatten(IEnumerable<Parameter> parameters)
    {
        using var scope = NewDisposeScope();
        var parts = parameters.Where(p => p.requires_grad).Select(p => p.grad is { } g ? g.flatten() : zeros(p.numel(), device: p.device)).ToArray();
        return cat(parts).to(float32).cpu().data<float>().ToArray();
    }

    /// <summary>Sets each parameter's gradient from <paramref name="flat"/>, in the order of <see cref="Flatten"/>.</summary>
    public static void Assign(IEnumerable<Parameter> parameters, ReadOnlySpan<float> flat)
    {
        var trainable = parameters.Where(p => p.requires_grad).ToArray();
        var expected = trainable.Sum(p => p.numel());
        if (flat.Length != expected) throw new ArgumentException($"a gradient of {flat.Length} values does not fit a model of {expected} trainable parameters");
        using var scope = NewDisposeScope();
        var offset = 0;
        foreach (var p in trainable)
        {
            var n = (int)p.numel();
            var values = tensor(flat.Slice(offset, n).ToArray(), device: p.device).view(p.shape).to(p.dtype);
            if (p.grad is null) p.grad = values.DetachFromDisposeScope();
            else p.grad.copy_(values);
            offset += n;
        }
    }
}
