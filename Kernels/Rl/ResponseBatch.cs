using static TorchSharp.torch;

namespace Kernels.Rl;

/// <summary>
/// Prompt + response sequences right-padded into one [B, T] tensor, with the index that picks, for
/// response token j of row b, the position whose output predicts it (prompt length + j - 1), and the
/// [B, R] mask of real response tokens. Padding follows the response, so causal attention never sees it.
/// </summary>
public sealed class ResponseBatch
{
    /// <summary>
    /// With <paramref name="shape"/>, the batch is padded to exactly that many rows (copies of the first)
    /// and tokens: every batch then has the same shape, so each row's floating-point results are the
    /// same whatever else is in the batch (kernels choose their blocking by shape).
    /// </summary>
    public ResponseBatch(IReadOnlyList<(int[] Prompt, int[] Response)> rows, Device? device = null, (int Rows, int Width)? shape = null)
    {
        if (rows.Count == 0) throw new ArgumentException("a batch needs at least one sequence", nameof(rows));
        if (rows.Any(r => r.Prompt.Length == 0 || r.Response.Length == 0)) throw new ArgumentException("every sequence needs a prompt and a response of at least one token", nameof(rows));
        Real = rows.Count;
        if (shape is { } fixedShape)
        {
            if (rows.Count > fixedShape.Rows || rows.Any(r => r.Prompt.Length + r.Response.Length > fixedShape.Width))
            {
                throw new ArgumentException($"{rows.Count} sequences of up to {rows.Max(r => r.Prompt.Length + r.Response.Length)} tokens do not fit a batch of {fixedShape.Rows} x {fixedShape.Width}");
            }
            rows = [.. rows, .. Enumerable.Repeat(rows[0], fixedShape.Rows - rows.Count)];
        }
        Rows = rows;
        var width = shape?.Width ?? rows.Max(r => r.Prompt.Length + r.Response.Length);
        var responseWidth = shape?.Width ?? rows.Max(r => r.Response.Length);
        var tokens = new long[rows.Count * width];
        var index = new long[rows.Count * responseWidth];
        var targets = new long[rows.Count * responseWidth];
        var mask = new float[rows.Count * responseWidth];
        for (var b = 0; b < rows.Count; b++)
        {
            var (prompt, response) = rows[b];
            for (var t = 0; t < prompt.Length; t++) tokens[b * width + t] = prompt[t];
            for (var j = 0; j < response.Length; j++) tokens[b * width + prompt.Length + j] = response[j];
            for (var j = 0; j < responseWidth; j++)
            {
                var real = j < response.Length;
                index[b * responseWidth + j] = prompt.Length - 1 + (real ? j : 0);
                targets[b * responseWidth + j] = real ? response[j] : 0;
                mask[b * responseWidth + j] = real ? 1 : 0;
            }
        }
        Tokens = tensor(tokens, device: device).view(rows.Count, width);
        Index = tensor(index, device: device).view(rows.Count, responseWidth);
        Targets = tensor(targets, device: device).view(rows.Count, responseWidth);
        Mask = tensor(mask, device: device).view(rows.Count, responseWidth);
    }

    public IReadOnlyList<(int[] Prompt, int[] Response)> Rows { get; }
    /// <summary>How many leading rows are real (the rest pad the batch to its fixed shape).</summary>
    public int Real { get; }
    public Tensor Tokens { get; }
    public Tensor Index { get; }
    public Tensor Targets { get; }
    public Tensor Mask { get; }
    public long ResponseWidth => Index.shape[1];

    /// <summary>Per-response-token arrays padded to [B, R] (zeros past each response).</summary>
    public Tensor Pad(IReadOnlyList<float[]> perToken)
    {
        var data = new float[Rows.Count * ResponseWidth];
        for (var b = 0; b < Rows.Count; b++)
        {
            if (perToken[b].Length != Rows[b].Response.Length)
            {
                throw new ArgumentException($"row {b} has {Rows[b].Response.Length} response tokens but {perToken[b].Length} values");
            }
            Array.Copy(perToken[b], 0, data, b * ResponseWidth, perToken[b].Length);
        }
        return tensor(data, device: Tokens.device).view(Rows.Count, ResponseWidth);
    }

    /// <summary>The rows of a [B, R] tensor cut to each response's length.</summary>
    public float[][] Unpad(Tensor values)
    {
        var data = values.to(float32).cpu().contiguous().data<float>().ToArray();
        return Rows.Take(Real).Select((r, b) => data.AsSpan((int)(b * ResponseWidth), r.Response.Length).ToArray()).ToArray();
    }

    /// <summary>A model's output at the predicting positions: [B, R] from [B, T], or [B, R, V] from [B, T, V].</summary>
    public Tensor AtResponse(Tensor output) => output.dim() == 2
        ? output.gather(1, Index)
        : output.gather(1, Index.unsqueeze(-1).expand(-1, -1, output.shape[2]));
}
