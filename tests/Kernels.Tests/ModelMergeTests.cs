using Kernels.Checkpoints;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class ModelMergeTests
{
    private static Dictionary<string, Tensor> Model(params (string Name, float[] Values)[] tensors) =>
        tensors.ToDictionary(t => t.Name, t => tensor(t.Values));

    [Fact]
    public void Linear_is_the_weighted_sum_of_each_tensor()
    {
        var a = Model(("w", [1, 2, 3]), ("b", [4]));
        var b = Model(("w", [5, 6, 7]), ("b", [8]));
        var c = Model(("w", [0, 0, 1]), ("b", [0]));

        var merged = ModelMerge.Linear([a, b, c], [0.25, 0.5, 0.25]);

        merged["w"].data<float>().ToArray().Should().Equal(0.25f * 1 + 0.5f * 5, 0.25f * 2 + 0.5f * 6, 0.25f * 3 + 0.5f * 7 + 0.25f);
        merged["b"].data<float>().ToArray().Should().Equal(5f);
    }

    [Fact]
    public void Slerp_follows_the_arc_between_two_tensors_and_is_linear_between_parallel_ones()
    {
        var a = Model(("w", [1, 0]), ("p", [1, 2]));
        var b = Model(("w", [0, 2]), ("p", [2, 4]));

        var merged = ModelMerge.Slerp(a, b, 0.5);

        // w: 90 degrees apart, so Omega = pi / 2 and each weight is sin(pi / 4) / sin(pi / 2) = 0.7071.
        merged["w"].data<float>().ToArray().Should().BeEquivalentTo([0.70710677f, 1.4142135f], o => o.Using<float>(c => c.Subject.Should().BeApproximately(c.Expectation, 1e-6f)).WhenTypeIs<float>());
        // p: parallel, so the two are mixed linearly.
        merged["p"].data<float>().ToArray().Should().Equal(1.5f, 3f);
        ModelMerge.Slerp(a, b, 0)["w"].data<float>().ToArray().Should().Equal(1f, 0f);
        ModelMerge.Slerp(a, b, 1)["w"].data<float>().ToArray().Should().Equal(0f, 2f);
    }

    [Fact]
    public void Models_that_differ_are_refused_naming_the_first_tensor_that_does()
    {
        var a = Model(("w", [1, 2]), ("b", [1]));

        var shape = () => ModelMerge.Linear([a, Model(("w", [1, 2, 3]), ("b", [1]))], [0.5, 0.5]);
        var missing = () => ModelMerge.Slerp(a, Model(("w", [1, 2])), 0.5);
        var extra = () => ModelMerge.Linear([a, Model(("w", [1, 2]), ("b", [1]), ("x", [0]))], [0.5, 0.5]);
        var weights = () => ModelMerge.Linear([a, a], [1]);
        var t = () => ModelMerge.Slerp(a, a, 1.5);

        shape.Should().Throw<InvalidDataException>().WithMessage("tensor 'w' is [2] in model 1 but [3] in model 2");
        missing.Should().Throw<InvalidDataException>().WithMessage("model 2 has no tensor 'b' (model 1 has)");
        extra.Should().Throw<InvalidDataException>().WithMessage("model 2 has a tensor 'x' that model 1 does not");
        weights.Should().Throw<ArgumentException>().WithMessage("1 weights for 2 models*");
        t.Should().Throw<ArgumentOutOfRangeException>().WithMessage("slerp's t is between 0*");
    }
}
