using Kernels.Model;
using static TorchSharp.torch;

namespace Kernels.Rl;

/// <summary>What the scoring models compute for finished responses: log-probs, values, learned rewards.</summary>
public static class ResponseScoring
{
    /// <summary>
    /// log p(response token j | prompt, response[..j]) under <paramref name="model"/> at the given
    /// temperature, per row. With a fixed <c>shape</c> (see <see cref="ResponseBatch"/>) each row's
    /// result does not depend on the others.
    /// </summary>
    public static float[][] LogProbs(Transformer model, IReadOnlyList<(int[] Prompt, int[] Response)> rows, double temperature = 1.0, (int Rows, int Width)? shape = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = new ResponseBatch(rows, DeviceOf(model), shape);
        return batch.Unpad(TokenLogProbs(model, batch, temperature).LogProbs);
    }

    /// <summary>The same from a language-model head's output over <paramref name="batch"/> [B, T, V] (a pipelined model's last stage's), per row.</summary>
    public static float[][] LogProbs(Tensor output, ResponseBatch batch, double temperature = 1.0)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        return batch.Unpad(TokenLogProbs(output, batch, temperature).LogProbs);
    }

    /// <summary>A critic's value of the state before each response token, per row.</summary>
    public static float[][] Values(Transformer critic, IReadOnlyList<(int[] Prompt, int[] Response)> rows, (int Rows, int Width)? shape = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = new ResponseBatch(rows, DeviceOf(critic), shape);
        return batch.Unpad(batch.AtResponse(critic.Forward(batch.Tokens)));
    }

    /// <summary>A reward model's score of each whole sequence: its scalar head at the last response token.</summary>
    public static double[] Rewards(Transformer rewardModel, IReadOnlyList<(int[] Prompt, int[] Response)> rows, (int Rows, int Width)? shape = null)
    {
        using var scope = NewDisposeScope();
        using var _ = no_grad();
        var batch = new ResponseBatch(rows, DeviceOf(rewardModel), shape);
        var lengths = tensor(batch.Rows.Select(r => (long)(r.Prompt.Length + r.Response.Length)).ToArray(), device: batch.Tokens.device);
        return rewardModel.ScoreAtLastToken(batch.Tokens, lengths).to(float64).cpu().data<double>().Take(batch.Real).ToArray();
    }

    /// <summary>Log-probs of the response tokens [B, R] and the logits they come from [B, R, V].</summary>
    internal static (Tensor LogProbs, Tensor Logits) TokenLogProbs(Transformer model, ResponseBatch batch, double temperature) =>
        TokenLogProbs(model.Forward(batch.Tokens), batch, temperature);

    /// <summary>The same from a language-model head's output over the whole batch [B, T, V] (a last pipeline stage's).</summary>
    internal static (Tensor LogProbs, Tensor Logits) TokenLogProbs(Tensor output, ResponseBatch batch, double temperature)
    {
        var logits = batch.AtResponse(output);
        if (temperature is > 0 and not 1.0) logits = logits / tensor((float)temperature, device: logits.device);
        var logProbs = logits.log_softmax(-1).gather(-1, batch.Targets.unsqueeze(-1)).squeeze(-1);
        return (logProbs, logits);
    }

    internal static Device DeviceOf(Transformer model) => model.parameters().First().device;
}
