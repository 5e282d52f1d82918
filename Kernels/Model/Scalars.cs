using TorchSharp;

namespace Kernels.Model;

/// <summary>
/// Scalars held until this object is disposed. TorchSharp turns a double in tensor arithmetic into a
/// finalizable Scalar and hands libtorch only its raw handle, so a collection on another thread can
/// free it while the operation reads it ("Unknown scalar type", or a crash). Code that runs while grains
/// allocate takes its constants from here: <c>using var s = new Scalars(); x.clamp(s[-20], s[20])</c>.
/// </summary>
public sealed class Scalars : IDisposable
{
    private readonly List<Scalar> held = [];

    /// <summary>
    /// 1, held for the process's life. TorchSharp's <c>a + b</c> and <c>a + s</c> call <c>add(b, 1)</c>, a fresh Scalar
    /// alpha that a collection can free while libtorch reads it (seen: a generation worker stopped by "Expected false to
    /// be true" from Scalar::toFloat inside RmsNorm's add; again, an asynchronous job's trainer in AdamW's <c>add_(eps)</c>
    /// at iteration 187); the model, the optimizer and the RL formulas add with this alpha instead.
    /// </summary>
    public static Scalar One { get; } = 1.ToScalar();

    /// <summary>
    /// 2, held for the process's life, for squares: TorchSharp's <c>square()</c> is <c>pow(2)</c> with a fresh Scalar, the
    /// same race as <see cref="One"/>'s (seen: an asynchronous job failed at iteration 266 with "INTERNAL ASSERT FAILED at
    /// Scalar.h:279" from pow inside RmsNorm, its trainer computing proximal log-probs beside two generation workers).
    /// </summary>
    public static Scalar Two { get; } = 2.ToScalar();

    public Scalar this[double value]
    {
        get
        {
            var scalar = value.ToScalar();
            held.Add(scalar);
            return scalar;
        }
    }

    public void Dispose()
    {
        foreach (var scalar in held) scalar.Dispose();
        held.Clear();
    }
}
