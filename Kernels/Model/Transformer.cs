using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace Kernels.Model;

/// <summary>What sits on top of the last layer: next-token logits, or one scalar per token.</summary>
public enum HeadKind
{
    /// <summary>A language-model head: logits over the vocabulary (the actor, the reference).</summary>
    LanguageModel,
    /// <summary>One scalar per token: a critic's values, or a reward model read at the last real token.</summary>
    Scalar,
}

/// <summary>
/// A LLaMA/Qwen2-shaped decoder, or a contiguous slice of one (a pipeline stage): pre-norm RMSNorm,
/// rotary position embeddings, grouped-query attention and a SwiGLU MLP. The whole model is the slice
/// [0, layers) with the embedding and the head; parameter names are Hugging Face's
/// (model.embed_tokens.weight, model.layers.0.self_attn.q_proj.weight, ..., lm_head.weight / score.weight).
/// </summary>
public sealed class Transformer : Module
{
    private readonly DecoderStack model;
    private readonly Linear? lm_head;
    private readonly Linear? score;

    public Transformer(ModelConfig config, HeadKind head = HeadKind.LanguageModel, long seed = 0, int firstLayer = 0, int? endLayer = null)
        : base(nameof(Transformer))
    {
        Config = config.Validated();
        Head = head;
        FirstLayer = firstLayer;
        EndLayer = endLayer ?? config.Layers;
        if (FirstLayer < 0 || EndLayer > config.Layers || FirstLayer >= EndLayer)
        {
            throw new ArgumentException($"layers [{FirstLayer}, {EndLayer}) are not a non-empty slice of 0..{config.Layers}");
        }
        if (config.TieEmbeddings && head == HeadKind.LanguageModel && !(HasEmbedding && HasHead))
        {
            throw new ArgumentException("tied embeddings need the embedding and the head on the same stage; untie them to split the model");
        }
        model = new DecoderStack(config, FirstLayer, EndLayer, HasEmbedding, HasHead);
        if (HasHead)
        {
            if (head == HeadKind.Scalar) score = Linear(config.HiddenSize, 1, hasBias: false);
            else if (!config.TieEmbeddings) lm_head = Linear(config.HiddenSize, config.VocabSize, hasBias: false);
        }
        RegisterComponents();
        Initialize(seed);
    }

    public ModelConfig Config { get; }
    public HeadKind Head { get; }
    public int FirstLayer { get; }
    public int EndLayer { get; }
    public bool HasEmbedding => FirstLayer == 0;
    public bool HasHead => EndLayer == Config.Layers;

    /// <summary>
    /// Runs this slice. Input: token ids [B, T] on the first slice, hidden states [B, T, H] after it.
    /// Output: logits [B, T, V] or scalars [B, T] on the last slice, hidden states before it.
    /// Without a cache, attention is causal over the T positions 0..T-1. With one, each row b writes its
    /// keys and values at <paramref name="positions"/>[b] in cache slot <paramref name="slots"/>[b] and
    /// attends to every cached position up to its own.
    /// </summary>
    public Tensor Forward(Tensor input, KvCache? cache = null, Tensor? slots = null, Tensor? positions = null)
    {
        var hidden = model.Forward(input, cache, slots, positions);
        if (!HasHead) return hidden;
        if (score is not null) return score.forward(hidden).squeeze(-1);
        return lm_head is not null ? lm_head.forward(hidden) : hidden.matmul(model.EmbeddingWeight.t());
    }

    /// <summary>Log-probability of each next token: entry t is log p(tokens[t + 1] | tokens[..t]), [B, T - 1].</summary>
    public Tensor NextTokenLogProbs(Tensor tokens, double temperature = 1.0)
    {
        using var s = new Scalars();
        var logits = Forward(tokens).narrow(1, 0, tokens.shape[1] - 1);
        if (temperature != 1.0) logits = logits.div(s[temperature]);
        return logits.log_softmax(-1).gather(-1, tokens.narrow(1, 1, tokens.shape[1] - 1).unsqueeze(-1)).squeeze(-1);
    }

    /// <summary>
    /// A reward model's score of each right-padded sequence: the scalar head's output at its last real
    /// token, index lengths[b] - 1, [B]. Padding after it cannot change it (attention is causal).
    /// </summary>
    public Tensor ScoreAtLastToken(Tensor tokens, Tensor lengths)
    {
        if (Head != HeadKind.Scalar) throw new InvalidOperationException("only a model with a scalar head gives a score per sequence");
        return Forward(tokens).gather(1, lengths.to(int64).sub(Scalars.One).view(-1, 1)).squeeze(1);
    }

    /// <summary>A frozen copy with the same weights: a reference model, or a snapshot for generation.</summary>
    public Transformer FrozenCopy()
    {
        var copy = new Transformer(Config, Head, 0, FirstLayer, EndLayer);
        copy.load_state_dict(state_dict());
        foreach (var p in copy.parameters()) p.requires_grad_(false);
        copy.eval();
        return copy;
    }

    private void Initialize(long seed)
    {
        // GPT-2/LLaMA initialisation: N(0, 0.02) for projections and embeddings, ones for norms. Seeded
        // per model, so the same seed gives the same weights whatever else runs in the process.
        var generator = new Generator((ulong)seed);
        using var _ = no_grad();
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith("norm.weight")) parameter.fill_(1.0);
            else if (name.EndsWith(".bias")) parameter.zero_();
            else parameter.normal_(0, 0.02, generator);
        }
    }
}

/// <summary>The embedding (first slice only), a run of decoder layers, and the final norm (last slice only).</summary>
internal sealed class DecoderStack : Module
{
    private readonly Embedding? embed_tokens;
    private readonly ModuleDict<DecoderLayer> layers;
    private readonly (int Index, DecoderLayer Layer)[] ordered;
    private readonly RmsNorm? norm;
    private readonly RotaryEmbedding rotary;

    public DecoderStack(ModelConfig config, int firstLayer, int endLayer, bool withEmbedding, bool withNorm) : base(nameof(DecoderStack))
    {
        if (withEmbedding) embed_tokens = Embedding(config.VocabSize, config.HiddenSize);
        // Keyed by the layer's index in the whole model, so a stage's names match the full model's.
        ordered = Enumerable.Range(firstLayer, endLayer - firstLayer).Select(i => (i, new DecoderLayer(config))).ToArray();
        layers = ModuleDict(ordered.Select(l => (l.Index.ToString(), l.Layer)).ToArray());
        if (withNorm) norm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        rotary = new RotaryEmbedding(config.HeadDim, config.MaxPositions, config.RopeTheta);
        RegisterComponents();
    }

    public Tensor EmbeddingWeight => embed_tokens!.weight!;

    public Tensor Forward(Tensor input, KvCache? cache, Tensor? slots, Tensor? positions)
    {
        var x = embed_tokens is not null ? embed_tokens.forward(input) : input;
        var (batch, length) = (x.shape[0], x.shape[1]);
        positions ??= rotary.Positions(length, x.device).expand(batch, length);
        var (cos, sin) = rotary.At(positions);
        foreach (var (index, layer) in ordered)
        {
            x = layer.Forward(x, cos, sin, cache?.Layer(index), slots, positions);
        }
        return norm is not null ? norm.forward(x) : x;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing) rotary.Dispose();
        base.Dispose(disposing);
    }
}

internal sealed class DecoderLayer : Module
{
    private readonly RmsNorm input_layernorm;
    private readonly Attention self_attn;
    private readonly RmsNorm post_attention_layernorm;
    private readonly SwiGlu mlp;

    public DecoderLayer(ModelConfig config) : base(nameof(DecoderLayer))
    {
        input_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        self_attn = new Attention(config);
        post_attention_layernorm = new RmsNorm(config.HiddenSize, config.RmsNormEps);
        mlp = new SwiGlu(config.HiddenSize, config.IntermediateSize);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, LayerCache? cache, Tensor? slots, Tensor positions)
    {
        // add(b, alpha) with a held alpha: `x + b` would pass a fresh Scalar 1 (see Scalars.One).
        x = x.add(self_attn.Forward(input_layernorm.forward(x), cos, sin, cache, slots, positions), Scalars.One);
        return x.add(mlp.forward(post_attention_layernorm.forward(x)), Scalars.One);
    }
}

internal sealed class Attention : Module
{
    private readonly Linear q_proj, k_proj, v_proj, o_proj;
    private readonly int heads, kvHeads, headDim;

    public Attention(ModelConfig config) : base(nameof(Attention))
    {
        (heads, kvHeads, headDim) = (config.Heads, config.KvHeads, config.HeadDim);
        q_proj = Linear(config.HiddenSize, heads * headDim, hasBias: config.AttentionBias);
        k_proj = Linear(config.HiddenSize, kvHeads * headDim, hasBias: config.AttentionBias);
        v_proj = Linear(config.HiddenSize, kvHeads * headDim, hasBias: config.AttentionBias);
        o_proj = Linear(heads * headDim, config.HiddenSize, hasBias: false);
        RegisterComponents();
    }

    public Tensor Forward(Tensor x, Tensor cos, Tensor sin, LayerCache? cache, Tensor? slots, Tensor positions)
    {
        var (batch, length) = (x.shape[0], x.shape[1]);
        var q = RotaryEmbedding.Apply(q_proj.forward(x).view(batch, length, heads, headDim).transpose(1, 2), cos, sin);
        var k = RotaryEmbedding.Apply(k_proj.forward(x).view(batch, length, kvHeads, headDim).transpose(1, 2), cos, sin);
        var v = v_proj.forward(x).view(batch, length, kvHeads, headDim).transpose(1, 2);

        Tensor attended;
        if (cache is null)
        {
            attended = functional.scaled_dot_product_attention(q, Repeat(k), Repeat(v), is_casual: true);
        }
        else
        {
            (k, v) = cache.WriteAndRead(slots!, positions, k, v);
            // Row b, query t sees cached positions 0..positions[b, t]: its prompt, what it generated so far, itself.
            var keyPositions = cache.KeyPositions(k.shape[2]);
            var mask = keyPositions.view(1, 1, 1, -1) <= positions.view(batch, 1, length, 1);
            attended = functional.scaled_dot_product_attention(q, Repeat(k), Repeat(v), attn_mask: mask);
        }
        return o_proj.forward(attended.transpose(1, 2).reshape(batch, length, heads * headDim));

        // Grouped-query attention: each key/value head serves heads / kvHeads query heads.
        Tensor Repeat(Tensor kv) => heads == kvHeads ? kv : kv.repeat_interleave(heads / kvHeads, dim: 1);
    }
}

internal sealed class SwiGlu : Module<Tensor, Tensor>
{
    private readonly Linear gate_proj, up_proj, down_proj;

    public SwiGlu(int hidden, int intermediate) : base(nameof(SwiGlu))
    {
        gate_proj = Linear(hidden, intermediate, hasBias: false);
        up_proj = Linear(hidden, intermediate, hasBias: false);
        down_proj = Linear(intermediate, hidden, hasBias: false);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => down_proj.forward(functional.silu(gate_proj.forward(x)) * up_proj.forward(x));
}

internal sealed class RmsNorm : Module<Tensor, Tensor>
{
    private readonly Parameter weight;
    // Held for the module's life: a Scalar converted on the fly could be finalized while libtorch reads it.
    private readonly Scalar eps;

    public RmsNorm(int size, double eps) : base(nameof(RmsNorm))
    {
        weight = Parameter(ones(size));
        this.eps = eps;
        RegisterComponents();
    }

    public override Tensor forward(Tensor x) => x * x.pow(Scalars.Two).mean([-1L], keepdim: true).add(eps, Scalars.One).rsqrt() * weight;

    protected override void Dispose(bool disposing)
    {
        if (disposing) eps.Dispose();
        base.Dispose(disposing);
    }
}

/// <summary>Rotary position embeddings (rotate-half form, as in Hugging Face's LLaMA).</summary>
internal sealed class RotaryEmbedding : IDisposable
{
    private readonly Tensor cosTable, sinTable, positions;

    public RotaryEmbedding(int headDim, int maxPositions, double theta)
    {
        // The temporaries are held by a scope until the tables are made: a model is built outside any scope,
        // where nothing referenced a temporary during the native call that read it, and a garbage collection then
        // could free it under that call (measured once in CI: "Cannot access data pointer of Tensor that doesn't
        // have storage" from outer(), in a silo-loss test's busy process). The scalars too: `x / headDim` made one
        // no scope holds (measured once in CI: "Expected false to be true" from Scalar::toLong in div, a model
        // built while a test's process was busy).
        using var scope = NewDisposeScope();
        using var s = new Scalars();
        positions = arange(maxPositions, dtype: int64).DetachFromDisposeScope();
        var inverseFrequency = pow(theta, arange(0, headDim, 2, dtype: float64).div(s[headDim])).reciprocal();
        var angles = outer(arange(maxPositions, dtype: float64), inverseFrequency);
        var table = cat([angles, angles], dim: -1);
        cosTable = table.cos().to(float32).DetachFromDisposeScope();
        sinTable = table.sin().to(float32).DetachFromDisposeScope();
    }

    /// <summary>0 .. length - 1, made once (arange takes Scalars, which a forward pass must not create; see AdamWOptimizer).</summary>
    public Tensor Positions(long length, Device device) => positions.narrow(0, 0, length).to(device);

    /// <summary>cos and sin for each position, shaped [B, 1, T, D] to broadcast over heads.</summary>
    public (Tensor Cos, Tensor Sin) At(Tensor positions) => (Gather(cosTable, positions), Gather(sinTable, positions));

    private static Tensor Gather(Tensor table, Tensor positions) =>
        table.to(positions.device).index_select(0, positions.flatten()).view(positions.shape[0], 1, positions.shape[1], -1);

    public void Dispose()
    {
        cosTable.Dispose();
        sinTable.Dispose();
        positions.Dispose();
    }

    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        var halves = x.chunk(2, dim: -1);
        return (x * cos).add(cat([-halves[1], halves[0]], dim: -1) * sin, Scalars.One);
    }
}
