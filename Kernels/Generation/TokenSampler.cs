using static TorchSharp.torch;

namespace Kernels.Generation;

/// <summary>Temperature, top-k and top-p sampling for a batch of rows, each with its own parameters.</summary>
public static class TokenSampler
{
    /// <summary>
    /// Picks one token per row of <paramref name="logits"/> [N, V]. The recorded log-prob is that of the
    /// temperature-scaled distribution before top-k/top-p filtering: the quantity a training forward
    /// pass computes for the same token (at temperature 0, the unscaled distribution).
    /// </summary>
    public static (int Token, float LogProb)[] Sample(Tensor logits, (SamplingParams Params, int Step)[] rows)
    {
        using var scope = NewDisposeScope();
        var vocab = logits.shape[1];
        var temperatures = tensor(rows.Select(r => r.Params.Temperature > 0 ? (float)r.Params.Temperature : 1f).ToArray(), device: logits.device);
        var logProbs = (logits.to(float32) / temperatures.view(-1, 1)).log_softmax(-1);
        var (sortedLogProbs, order) = logProbs.sort(dim: -1, descending: true);
        var probs = sortedLogProbs.exp();

        // 1-based rank by a cumulative sum, not arange: no Scalar per step (see AdamWOptimizer).
        var rank = ones_like(probs).cumsum(-1);
        var topK = tensor(rows.Select(r => r.Params.TopK > 0 ? (float)r.Params.TopK : vocab).ToArray(), device: logits.device).view(-1, 1);
        var topP = tensor(rows.Select(r => (float)r.Params.TopP).ToArray(), device: logits.device).view(-1, 1);
        // Keep a token while the mass ranked above it is below top-p: the smallest set reaching top-p, never empty.
        var keep = (rank <= topK).logical_and(probs.cumsum(-1) - probs < topP);
        var kept = (probs * keep).cpu();

        var keptData = kept.data<float>().ToArray();
        var orderData = order.cpu().data<long>().ToArray();
        var logProbData = sortedLogProbs.cpu().data<float>().ToArray();
        var picks = new (int, float)[rows.Length];
        for (var i = 0; i < rows.Length; i++)
        {
            var offset = i * (int)vocab;
            var j = 0;
            if (rows[i].Params.Temperature > 0)
            {
                // Kept tokens form a prefix of the sorted row; walk it until the cumulative mass passes the draw.
                var total = 0.0;
                for (var k = 0; k < vocab && keptData[offset + k] > 0; k++) total += keptData[offset + k];
                var target = rows[i].Params.Uniform(rows[i].Step) * total;
                var cumulative = 0.0;
                for (var k = 0; k < vocab && keptData[offset + k] > 0; k++)
                {
                    j = k;
                    cumulative += keptData[offset + k];
                    if (cumulative > target) break;
                }
            }
            picks[i] = ((int)orderData[offset + j], logProbData[offset + j]);
        }
        return picks;
    }
}
