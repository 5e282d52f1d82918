namespace Kernels.Emulation;

/// <summary>
/// The efficiencies the cost model assumes: the share of peak FLOP/s that prefill, decoding, scoring
/// and training reach, the share of peak memory bandwidth that streaming weights and KV caches reach,
/// a fixed overhead per decoding step (kernel launches, sampling, scheduling), and the share of device
/// memory the KV cache may fill.
/// </summary>
public sealed record CostAssumptions
{
    public double PrefillEfficiency { get; init; } = 0.6;
    public double DecodeComputeEfficiency { get; init; } = 0.5;
    public double InferenceEfficiency { get; init; } = 0.6;
    public double TrainingEfficiency { get; init; } = 0.4;
    public double BandwidthEfficiency { get; init; } = 0.8;
    public double DecodeStepOverheadSeconds { get; init; } = 0.002;
    public double KvCacheMemoryShare { get; init; } = 0.9;
}

/// <summary>
/// How long each operation of one model takes on one device. Every formula is here, with what it
/// assumes; nothing else in the system decides a cost. Notation: P = parameters multiplied per token
/// (<see cref="ModelShape.MatmulParameters"/>), L layers, d = heads x head dimension, W weight bytes,
/// K KV-cache bytes per token, F peak FLOP/s, B memory bandwidth, e_x the efficiencies of
/// <see cref="CostAssumptions"/>. A step bound by both compute and memory takes the larger of the two
/// times (they overlap), which is the roofline model: memory-bound at small batches, compute-bound at
/// large ones. Tensor parallelism over t devices divides FLOPs, weights and KV bytes by t and adds
/// nothing for communication (it stays inside a node).
/// </summary>
public sealed class CostModel(DeviceClass device, ModelShape model, CostAssumptions? assumptions = null, int tensorParallel = 1)
{
    public DeviceClass Device { get; } = device;
    public ModelShape Model { get; } = model;
    public CostAssumptions Assumptions { get; } = assumptions ?? new CostAssumptions();
    public int TensorParallel { get; } = tensorParallel >= 1 ? tensorParallel : throw new ArgumentOutOfRangeException(nameof(tensorParallel), tensorParallel, "at least 1");

    private double Flops => Device.PeakFlops * TensorParallel;
    private double Bandwidth => Device.MemoryBandwidth * TensorParallel;
    private double AttentionWidth => (double)Model.Heads * Model.HeadDim;

    /// <summary>
    /// Prefill of prompts of lengths t_i in one batch: FLOPs = 2 P sum t_i + 2 L d sum t_i^2 (causal
    /// QK^T and AV, half of the t x t square each); the weights are read once.
    /// T = max(FLOPs / (F e_prefill), W / (B e_bw)).
    /// </summary>
    public double PrefillSeconds(IReadOnlyCollection<int> promptLengths)
    {
        var tokens = promptLengths.Sum(t => (double)t);
        var squares = promptLengths.Sum(t => (double)t * t);
        var flops = 2 * Model.MatmulParameters * tokens + 2 * Model.Layers * AttentionWidth * squares;
        return Math.Max(flops / (Flops * Assumptions.PrefillEfficiency), Model.WeightBytes / (Bandwidth * Assumptions.BandwidthEfficiency));
    }

    /// <summary>
    /// One decoding step of a batch whose sequences hold c_i tokens: FLOPs = 2 P n + 4 L d sum c_i (each
    /// new token's QK^T and AV over its context); bytes = W + K sum c_i (every weight and every cached key
    /// and value is read once). T = max(FLOPs / (F e_decode), bytes / (B e_bw)) + step overhead.
    /// </summary>
    public double DecodeStepSeconds(IReadOnlyCollection<int> contextLengths) => DecodeStepSeconds(contextLengths.Count, contextLengths.Sum(c => (double)c));

    /// <summary>The same step given only what it depends on: how many sequences, and their contexts' sum.</summary>
    public double DecodeStepSeconds(int sequences, double context)
    {
        if (sequences == 0) return 0;
        var flops = 2 * Model.MatmulParameters * sequences + 4 * Model.Layers * AttentionWidth * context;
        var bytes = Model.WeightBytes + Model.KvBytesPerToken * context;
        return Math.Max(flops / (Flops * Assumptions.DecodeComputeEfficiency), bytes / (Bandwidth * Assumptions.BandwidthEfficiency))
            + Assumptions.DecodeStepOverheadSeconds;
    }

    /// <summary>A forward pass without a cache over sequences of lengths s_i (reference, reward or critic scoring): as prefill, at the inference efficiency.</summary>
    public double ForwardSeconds(IReadOnlyCollection<int> sequenceLengths)
    {
        var tokens = sequenceLengths.Sum(t => (double)t);
        var flops = 2 * Model.MatmulParameters * tokens + 2 * Model.Layers * AttentionWidth * sequenceLengths.Sum(t => (double)t * t);
        return Math.Max(flops / (Flops * Assumptions.InferenceEfficiency), Model.WeightBytes / (Bandwidth * Assumptions.BandwidthEfficiency));
    }

    /// <summary>
    /// Training forward and backward over sequences of lengths s_i: three times the forward FLOPs
    /// (the backward pass costs two forwards), 6 P sum s_i + 6 L d sum s_i^2, at the training efficiency.
    /// </summary>
    public double TrainingSeconds(IReadOnlyCollection<int> sequenceLengths)
    {
        var flops = 6 * Model.MatmulParameters * sequenceLengths.Sum(t => (double)t) + 6 * Model.Layers * AttentionWidth * sequenceLengths.Sum(t => (double)t * t);
        return flops / (Flops * Assumptions.TrainingEfficiency);
    }

    /// <summary>
    /// The training forward of one pipeline stage holding <paramref name="layers"/> of the model's layers
    /// (and the LM head when <paramref name="head"/>; the embedding is a lookup) over sequences of lengths
    /// s_i: 2 P_layer l sum s_i + 2 l d sum s_i^2 (+ 2 V h sum s_i for the head), at the training
    /// efficiency. Its backward costs two forwards, so a partition's forwards and backwards add up to
    /// <see cref="TrainingSeconds"/>.
    /// </summary>
    public double StageForwardSeconds(int layers, bool head, IReadOnlyCollection<int> sequenceLengths)
    {
        if (layers < 0 || layers > Model.Layers) throw new ArgumentOutOfRangeException(nameof(layers), layers, $"{Model.Name} has {Model.Layers} layers");
        var tokens = sequenceLengths.Sum(t => (double)t);
        var parameters = layers * Model.LayerParameters + (head ? (double)Model.Vocab * Model.Hidden : 0);
        var flops = 2 * parameters * tokens + 2 * layers * AttentionWidth * sequenceLengths.Sum(t => (double)t * t);
        return flops / (Flops * Assumptions.TrainingEfficiency);
    }

    /// <summary>
    /// A stage's bf16 activations (or their gradients) for <paramref name="tokens"/> tokens to the next
    /// stage over a link, each tensor-parallel rank sending its shard: latency + 2 h tokens / (t x link bandwidth).
    /// </summary>
    public double ActivationTransferSeconds(double tokens, Link link) => TransferSeconds(2.0 * Model.Hidden * tokens / TensorParallel, link);

    /// <summary>Sending <paramref name="bytes"/> over a link: latency + bytes / bandwidth.</summary>
    public static double TransferSeconds(double bytes, Link link) => link.LatencySeconds + bytes / link.Bandwidth;

    /// <summary>
    /// Running sequences' KV caches of c_i tokens each over a link, each tensor-parallel rank sending its
    /// shard on its own: latency + K sum c_i / (t x link bandwidth).
    /// </summary>
    public double CacheTransferSeconds(IReadOnlyCollection<int> contexts, Link link) =>
        TransferSeconds(Model.KvBytesPerToken * contexts.Sum(c => (double)c) / TensorParallel, link);

    /// <summary>The whole model's bf16 weights over a link (what a weight update costs a generation worker).</summary>
    public double WeightTransferSeconds(Link link) => TransferSeconds(Model.WeightBytes / TensorParallel, link);

    /// <summary>
    /// Tokens of context the KV cache can hold: (memory x share x t - W) / K; zero when the weights do
    /// not fit. This caps the batch a generation worker can run.
    /// </summary>
    public long MaxCachedTokens()
    {
        var free = Device.MemoryBytes * Assumptions.KvCacheMemoryShare * TensorParallel - Model.WeightBytes;
        return free <= 0 ? 0 : (long)(free / Model.KvBytesPerToken);
    }
}
