using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class OptimizerAndCheckpointTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("actors-ckpt-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public void Warmup_then_cosine_schedule()
    {
        var options = new OptimizerOptions { LearningRate = 1.0, WarmupSteps = 4, TotalSteps = 14, Schedule = LearningRateSchedule.Cosine, MinLearningRateRatio = 0.1 };
        // Warm-up 1/4 .. 4/4; then 0.1 + 0.9 * (1 + cos(pi * p)) / 2 with p = (s - 4) / 10.
        options.LearningRateAt(0).Should().Be(0.25);
        options.LearningRateAt(3).Should().Be(1.0);
        options.LearningRateAt(4).Should().Be(1.0);
        options.LearningRateAt(9).Should().BeApproximately(0.55, 1e-12);
        options.LearningRateAt(14).Should().BeApproximately(0.1, 1e-12);
        options.LearningRateAt(100).Should().BeApproximately(0.1, 1e-12);
        new OptimizerOptions { LearningRate = 0.5 }.LearningRateAt(1000).Should().Be(0.5);
        FluentActions.Invoking(() => (options with { TotalSteps = 2 }).Validated()).Should().Throw<ArgumentException>().WithMessage("*TotalSteps 2*");
    }

    [Fact]
    public void Clips_to_the_global_norm_then_steps_at_the_scheduled_rate()
    {
        using var scope = NewDisposeScope();
        var p = new TorchSharp.Modules.Parameter(zeros(2));
        using var optimizer = new AdamWOptimizer([p], new OptimizerOptions { LearningRate = 0.1, WeightDecay = 0, MaxGradNorm = 1 });

        // Gradient (3, 4) has norm 5: clipped to norm 1 it is (0.6, 0.8).
        p.grad = tensor(new[] { 3f, 4f });
        optimizer.ClipGradients().Should().BeApproximately(5, 1e-9);
        p.grad!.data<float>().ToArray().Should().Equal([0.6f, 0.8f], (a, e) => Math.Abs(a - e) < 1e-6);
        // Another stage's share makes the global norm 10: the same gradient is scaled by 1/10.
        p.grad = tensor(new[] { 3f, 4f });
        optimizer.ClipGradients(globalGradNorm: 10).Should().Be(10);
        p.grad!.data<float>().ToArray().Should().Equal([0.3f, 0.4f], (a, e) => Math.Abs(a - e) < 1e-6);

        // AdamW's first update is lr * m_hat / (sqrt(v_hat) + eps) = lr * sign(g) per entry.
        var (norm, rate) = optimizer.Step();
        norm.Should().BeApproximately(0.5, 1e-6);
        rate.Should().Be(0.1);
        p.data<float>().ToArray().Should().Equal([-0.1f, -0.1f], (a, e) => Math.Abs(a - e) < 1e-6);
        optimizer.Steps.Should().Be(1);
    }

    [Fact]
    public void Saved_optimizer_state_resumes_to_identical_weights()
    {
        using var scope = NewDisposeScope();
        var config = TinyModels.Config;
        var tokens = randint(0, config.VocabSize, [4, 9], generator: new Generator(4));
        var options = new OptimizerOptions { LearningRate = 3e-3, WarmupSteps = 2, TotalSteps = 10, Schedule = LearningRateSchedule.Cosine };
        void Train(Transformer m, AdamWOptimizer o, int steps)
        {
            for (var i = 0; i < steps; i++)
            {
                using var s = NewDisposeScope();
                (-m.NextTokenLogProbs(tokens).mean()).backward();
                o.Step();
            }
        }

        using var straight = new Transformer(config, seed: 5);
        using var straightOptimizer = new AdamWOptimizer(straight.parameters(), options);
        Train(straight, straightOptimizer, 6);

        using var first = new Transformer(config, seed: 5);
        using var firstOptimizer = new AdamWOptimizer(first.parameters(), options);
        Train(first, firstOptimizer, 3);
        ModelCheckpoint.Save(directory, first);
        var state = new MemoryStream();
        firstOptimizer.Save(state);

        using var resumed = ModelCheckpoint.Load(directory);
        using var resumedOptimizer = new AdamWOptimizer(resumed.parameters(), options);
        state.Position = 0;
        resumedOptimizer.Load(state);
        resumedOptimizer.Steps.Should().Be(3);
        Train(resumed, resumedOptimizer, 3);

        foreach (var (name, parameter) in straight.named_parameters())
        {
            parameter.eq(resumed.state_dict()[name]).all().item<bool>().Should().BeTrue(name);
        }
    }

    [Fact]
    public void Checkpoint_files_are_Hugging_Face_shaped_and_a_stage_loads_its_slice()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(TinyModels.Config with { AttentionBias = true }, HeadKind.Scalar, seed: 9);
        ModelCheckpoint.Save(directory, model);

        File.ReadAllText(Path.Combine(directory, "config.json")).Should().Contain("\"num_key_value_heads\": 2").And.Contain("\"attention_bias\": true");
        using var loaded = ModelCheckpoint.Load(directory);
        using var lastStage = ModelCheckpoint.Load(directory, firstLayer: 2);

        loaded.Head.Should().Be(HeadKind.Scalar);
        var tokens = randint(0, 23, [2, 7], generator: new Generator(8));
        loaded.Forward(tokens).eq(model.Forward(tokens)).all().item<bool>().Should().BeTrue();
        lastStage.state_dict().Keys.Should().BeEquivalentTo(["model.layers.2.input_layernorm.weight", "model.layers.2.post_attention_layernorm.weight",
            "model.layers.2.self_attn.q_proj.weight", "model.layers.2.self_attn.q_proj.bias", "model.layers.2.self_attn.k_proj.weight",
            "model.layers.2.self_attn.k_proj.bias", "model.layers.2.self_attn.v_proj.weight", "model.layers.2.self_attn.v_proj.bias",
            "model.layers.2.self_attn.o_proj.weight", "model.layers.2.mlp.gate_proj.weight", "model.layers.2.mlp.up_proj.weight",
            "model.layers.2.mlp.down_proj.weight", "model.norm.weight", "score.weight"]);
    }

    [Fact]
    public void Loading_names_missing_unexpected_and_mis_shaped_tensors()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(TinyModels.Config, seed: 1);
        var weights = model.state_dict().ToDictionary(p => p.Key, p => p.Value);
        weights.Remove("model.layers.1.mlp.up_proj.weight");
        weights["model.layers.0.self_attn.k_proj.weight"] = zeros(32, 32);
        weights["model.layers.9.extra.weight"] = zeros(1);

        var act = () => ModelCheckpoint.LoadWeights(model, weights, source: "bad.safetensors");

        act.Should().Throw<InvalidDataException>().WithMessage(
            "bad.safetensors does not fit the model; missing: model.layers.1.mlp.up_proj.weight; unexpected: model.layers.9.extra.weight; " +
            "mis-shaped: model.layers.0.self_attn.k_proj.weight (file [32, 32], model [16, 32])");
    }
}
