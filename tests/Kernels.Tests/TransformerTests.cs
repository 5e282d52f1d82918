using Kernels.Model;
using TorchSharp;
using static TorchSharp.torch;

namespace Kernels.Tests;

public sealed class TransformerTests
{
    private static readonly ModelConfig Config = TinyModels.Config;

    [Fact]
    public void Parameters_carry_Hugging_Face_names_and_sizes()
    {
        using var model = new Transformer(Config with { Layers = 2 });

        var shapes = model.state_dict().ToDictionary(p => p.Key, p => p.Value.shape);

        var expected = new Dictionary<string, long[]>
        {
            ["model.embed_tokens.weight"] = [23, 32],
            ["model.norm.weight"] = [32],
            ["lm_head.weight"] = [23, 32],
        };
        for (var i = 0; i < 2; i++)
        {
            var prefix = $"model.layers.{i}.";
            expected[prefix + "input_layernorm.weight"] = [32];
            expected[prefix + "post_attention_layernorm.weight"] = [32];
            expected[prefix + "self_attn.q_proj.weight"] = [32, 32];
            expected[prefix + "self_attn.k_proj.weight"] = [16, 32]; // 2 kv heads x head size 8
            expected[prefix + "self_attn.v_proj.weight"] = [16, 32];
            expected[prefix + "self_attn.o_proj.weight"] = [32, 32];
            expected[prefix + "mlp.gate_proj.weight"] = [48, 32];
            expected[prefix + "mlp.up_proj.weight"] = [48, 32];
            expected[prefix + "mlp.down_proj.weight"] = [32, 48];
        }
        shapes.Keys.Should().BeEquivalentTo(expected.Keys);
        foreach (var (name, shape) in expected) shapes[name].Should().Equal(shape, name);
    }

    [Fact]
    public void Qwen2_biases_tied_embeddings_and_scalar_heads_change_the_parameters_as_expected()
    {
        using var qwen = new Transformer(Config with { AttentionBias = true, TieEmbeddings = true });
        using var critic = new Transformer(Config, HeadKind.Scalar);

        var qwenNames = qwen.state_dict().Keys.ToList();
        qwenNames.Should().Contain("model.layers.0.self_attn.q_proj.bias").And.Contain("model.layers.2.self_attn.v_proj.bias");
        qwenNames.Should().NotContain("model.layers.0.self_attn.o_proj.bias").And.NotContain("lm_head.weight");
        critic.state_dict()["score.weight"].shape.Should().Equal(1, 32);
        critic.state_dict().Keys.Should().NotContain("lm_head.weight");
    }

    [Fact]
    public void Outputs_have_the_head_shapes_and_are_causal()
    {
        using var scope = NewDisposeScope();
        using var lm = new Transformer(Config, seed: 1);
        using var critic = new Transformer(Config, HeadKind.Scalar, seed: 2);
        var tokens = randint(0, 23, [2, 10], generator: new Generator(5));
        var changedFuture = tokens.clone();
        changedFuture[.., 7] = (changedFuture[.., 7] + 1) % 23;

        var logits = lm.Forward(tokens);
        var logitsChanged = lm.Forward(changedFuture);

        logits.shape.Should().Equal(2, 10, 23);
        critic.Forward(tokens).shape.Should().Equal(2, 10);
        (logits.narrow(1, 0, 7) - logitsChanged.narrow(1, 0, 7)).abs().max().item<float>().Should().Be(0, "no position sees a later token");
        (logits.narrow(1, 7, 3) - logitsChanged.narrow(1, 7, 3)).abs().max().item<float>().Should().BeGreaterThan(0);
    }

    [Fact]
    public void Cached_decoding_one_token_at_a_time_matches_the_full_forward()
    {
        using var scope = NewDisposeScope();
        using var model = new Transformer(Config, seed: 3);
        var tokens = randint(0, 23, [2, 12], generator: new Generator(9));
        using var cache = new KvCache(Config, slots: 4, maxLength: 32);
        var slots = tensor(new long[] { 3, 1 });

        var full = model.Forward(tokens);
        var prefill = model.Forward(tokens.narrow(1, 0, 5), cache, slots, arange(5).expand(2, 5));
        var steps = Enumerable.Range(5, 7).Select(t => model.Forward(tokens.narrow(1, t, 1), cache, slots, full_like(slots, t).view(2, 1))).ToList();
        var cached = cat([prefill, .. steps], dim: 1);

        (cached - full).abs().max().item<float>().Should().BeLessThan(1e-5f);
    }

    [Fact]
    public void A_reward_model_scores_each_sequence_at_its_last_real_token()
    {
        using var scope = NewDisposeScope();
        using var reward = new Transformer(Config, HeadKind.Scalar, seed: 4);
        var padded = tensor(new long[,] { { 5, 6, 7, 0, 0 }, { 8, 9, 10, 11, 12 } });
        var repadded = tensor(new long[,] { { 5, 6, 7, 21, 22 }, { 8, 9, 10, 11, 12 } });

        var scores = reward.ScoreAtLastToken(padded, tensor(new long[] { 3, 5 }));

        scores.shape.Should().Equal(2);
        scores[0].item<float>().Should().BeApproximately(reward.Forward(tensor(new long[,] { { 5, 6, 7 } }))[0, 2].item<float>(), 1e-6f);
        scores[1].item<float>().Should().Be(reward.Forward(padded)[1, 4].item<float>());
        reward.ScoreAtLastToken(repadded, tensor(new long[] { 3, 5 })).eq(scores).all().item<bool>().Should().BeTrue("what follows the last real token does not count");
    }

    [Fact]
    public void Same_seed_gives_the_same_weights_and_a_frozen_copy_has_them_without_gradients()
    {
        using var scope = NewDisposeScope();
        using var a = new Transformer(Config, seed: 42);
        using var b = new Transformer(Config, seed: 42);
        using var c = new Transformer(Config, seed: 43);
        using var reference = a.FrozenCopy();
        var tokens = randint(0, 23, [1, 6], generator: new Generator(1));

        a.Forward(tokens).eq(b.Forward(tokens)).all().item<bool>().Should().BeTrue();
        a.Forward(tokens).eq(c.Forward(tokens)).all().item<bool>().Should().BeFalse();
        reference.Forward(tokens).eq(a.Forward(tokens)).all().item<bool>().Should().BeTrue();
        reference.parameters().Should().OnlyContain(p => !p.requires_grad);
    }

    [Fact]
    public void Bad_configs_name_the_field()
    {
        var heads = () => new Transformer(Config with { Heads = 5 });
        var kv = () => new Transformer(Config with { KvHeads = 3 });
        var json = () => ModelConfig.FromJson("""{"vocab_size": 1}""", "tiny.json");

        heads.Should().Throw<ArgumentException>().WithMessage("*hidden_size 32*num_attention_heads 5*");
        kv.Should().Throw<ArgumentException>().WithMessage("*num_key_value_heads 3*");
        json.Should().Throw<ArgumentException>().WithMessage("tiny.json: vocab_size*");
        ModelConfig.FromJson(Config.ToJson()).Should().Be(Config);
    }
}
