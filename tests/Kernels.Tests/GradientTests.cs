using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Tests;

/// <summary>TorchSharp's autograd, on this machine's libtorch, against central finite differences.</summary>
public class GradientTests
{
    // f(x) = sum(tanh(W x) * x^2) with a fixed W: smooth, non-linear and mixing every input.
    private static Tensor F(Tensor x, Tensor w) => (tanh(w.matmul(x)) * x.pow(2)).sum();

    [Fact]
    public void Autograd_matches_finite_differences()
    {
        using var scope = NewDisposeScope();
        var gen = new Generator(seed: 7);
        var w = randn(new long[] { 5, 5 }, dtype: float64, generator: gen);
        var x = randn(new long[] { 5 }, dtype: float64, generator: gen).requires_grad_();

        F(x, w).backward();
        var analytic = x.grad!.data<double>().ToArray();

        const double h = 1e-6;
        var x0 = x.detach();
        for (var i = 0; i < 5; i++)
        {
            var step = zeros(5, dtype: float64);
            step[i] = h;
            var numeric = (F(x0 + step, w).item<double>() - F(x0 - step, w).item<double>()) / (2 * h);
            analytic[i].Should().BeApproximately(numeric, 1e-6, $"d f / d x[{i}]");
        }
    }
}
