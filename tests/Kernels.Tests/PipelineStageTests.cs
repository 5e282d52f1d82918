using Kernels.Model;
using Kernels.Pipeline;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class PipelineStageTests
{
    private static readonly ModelConfig Config = TinyModels.Config with { Layers = 4 };

    /// <summary>The micro-batch's share of the batch loss: next-token cross-entropy (LM) or MSE to a target (scalar head), over M micro-batches.</summary>
    private static Func<Tensor, Tensor> Loss(HeadKind head, Tensor tokens, int microBatches) => output => head == HeadKind.LanguageModel
        ? nn.functional.cross_entropy(output.narrow(1, 0, output.shape[1] - 1).reshape(-1, output.shape[2]), tokens.narrow(1, 1, tokens.shape[1] - 1).reshape(-1)) / microBatches
        : nn.functional.mse_loss(output, tokens.to(float32) / 10) / microBatches;

    [Theory]
    [InlineData(HeadKind.LanguageModel, 2, 2, false)]
    [InlineData(HeadKind.LanguageModel, 3, 4, true)]
    [InlineData(HeadKind.Scalar, 4, 2, true)]
    public void Stages_over_micro_batches_give_the_whole_models_loss_and_gradients(HeadKind head, int stages, int microBatches, bool oneForwardOneBackward)
    {
        using var scope = NewDisposeScope();
        using var whole = new Transformer(Config, head, seed: 17);
        var tokens = randint(0, Config.VocabSize, [8, 10], generator: new Generator(3));
        var parts = tokens.chunk(microBatches);

        var wholeLoss = parts.Select(mb => Loss(head, mb, microBatches)(whole.Forward(mb))).Aggregate((a, b) => a + b);
        wholeLoss.backward();
        var wholeGradients = whole.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!);

        var pipeline = PipelineStage.Split(whole, stages);
        var stagedLoss = 0.0;
        void Forward(int mb)
        {
            // Every hop goes through the wire format, as between processes.
            var activation = parts[mb];
            for (var s = 0; s < stages; s++)
            {
                var output = pipeline[s].Forward(mb, activation, s == stages - 1 ? Loss(head, parts[mb], microBatches) : null);
                activation = s == stages - 1 ? output : TensorCodec.Decode(TensorCodec.Encode(output));
            }
            stagedLoss += activation.item<float>();
        }
        void Backward(int mb)
        {
            Tensor? gradient = null;
            for (var s = stages - 1; s >= 0; s--)
            {
                var g = pipeline[s].Backward(mb, gradient);
                gradient = g is null ? null : TensorCodec.Decode(TensorCodec.Encode(g));
            }
        }
        if (oneForwardOneBackward)
        {
            Forward(0);
            for (var mb = 1; mb < microBatches; mb++) { Forward(mb); Backward(mb - 1); }
            Backward(microBatches - 1);
        }
        else
        {
            for (var mb = 0; mb < microBatches; mb++) Forward(mb);
            for (var mb = 0; mb < microBatches; mb++) Backward(mb);
        }

        stagedLoss.Should().BeApproximately(wholeLoss.item<float>(), 1e-5);
        var checkedNames = new List<string>();
        foreach (var stage in pipeline)
        {
            stage.InFlight.Should().Be(0);
            foreach (var (name, parameter) in stage.Slice.named_parameters())
            {
                (parameter.grad! - wholeGradients[name]).abs().max().item<float>().Should().BeLessThan(1e-5f, name);
                checkedNames.Add(name);
            }
            stage.Dispose();
            stage.Slice.Dispose();
        }
        checkedNames.Should().BeEquivalentTo(wholeGradients.Keys, "the stages hold every parameter exactly once");
    }

    [Fact]
    public void Partition_is_contiguous_and_even()
    {
        PipelineStage.Partition(10, 4).Should().Equal((0, 3), (3, 6), (6, 8), (8, 10));
        PipelineStage.Partition(4, 4).Should().Equal((0, 1), (1, 2), (2, 3), (3, 4));
        FluentActions.Invoking(() => PipelineStage.Partition(4, 5)).Should().Throw<ArgumentOutOfRangeException>();
    }

    [Fact]
    public void Out_of_order_calls_are_refused_with_the_reason()
    {
        using var scope = NewDisposeScope();
        using var whole = new Transformer(Config, seed: 1);
        var stages = PipelineStage.Split(whole, 2);
        var tokens = randint(0, Config.VocabSize, [2, 5], generator: new Generator(1));

        FluentActions.Invoking(() => stages[0].Backward(0, zeros(2, 5, 32))).Should().Throw<InvalidOperationException>().WithMessage("*micro-batch 0 has no forward*");
        stages[0].Forward(0, tokens);
        FluentActions.Invoking(() => stages[0].Forward(0, tokens)).Should().Throw<InvalidOperationException>().WithMessage("*already in flight*");
        FluentActions.Invoking(() => stages[1].Forward(0, zeros(2, 5, 32))).Should().Throw<ArgumentException>().WithMessage("*needs a loss*");
        FluentActions.Invoking(() => new Transformer(Config with { TieEmbeddings = true }, firstLayer: 0, endLayer: 2)).Should().Throw<ArgumentException>().WithMessage("*tied embeddings*");
        foreach (var s in stages) { s.Dispose(); s.Slice.Dispose(); }
    }

    [Fact]
    public void Wire_format_is_exact_in_fp32_and_half_the_bytes_in_bf16()
    {
        using var scope = NewDisposeScope();
        var x = randn([3, 4, 5], generator: new Generator(2));

        var exact = TensorCodec.Encode(x);
        var compact = TensorCodec.Encode(x, WireFormat.BFloat16);

        TensorCodec.Decode(exact).eq(x).all().item<bool>().Should().BeTrue();
        (compact.Length - (2 + 3 * 8)).Should().Be((exact.Length - (2 + 3 * 8)) / 2);
        var roundTrip = TensorCodec.Decode(compact);
        roundTrip.shape.Should().Equal(3, 4, 5);
        ((roundTrip - x).abs() / x.abs().clamp_min(1e-3)).max().item<float>().Should().BeLessThan(1f / 128, "bf16 keeps 8 bits of mantissa");
        FluentActions.Invoking(() => TensorCodec.Decode(exact.AsSpan(0, exact.Length - 1))).Should().Throw<InvalidDataException>().WithMessage("*needs 240*");
    }
}
