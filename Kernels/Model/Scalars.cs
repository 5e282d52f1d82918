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
