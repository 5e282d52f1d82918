namespace Kernels.Tasks;

/// <summary>
/// Expanding a run-length code: "3a12b1c=" -> "aaabbbbbbbbbbbbc". Run counts are lognormal, so correct
/// answers have long-tailed lengths (most are short, a few are tens of times the median): the workload
/// of the long-tail work. Partial credit: the share of positions where the response matches the
/// answer, over the longer of the two.
/// </summary>
public sealed class RunLengthTask(int maxLength = 160) : IVerifiableTask
{
    private const string Letters = "abcdefghijklmnopqrstuvwxyz";

    public string Name => "runlength";
    public int MaxLength { get; } = maxLength is >= 8 and <= 400 ? maxLength : throw new ArgumentOutOfRangeException(nameof(maxLength), maxLength, "maxLength must be between 8 and 400");
    public int MaxResponseTokens => MaxLength + 1;

    public TaskExample Generate(Random random)
    {
        var runs = 1 + random.Next(3);
        var prompt = new System.Text.StringBuilder();
        var answer = new System.Text.StringBuilder();
        for (var r = 0; r < runs; r++)
        {
            // exp(N(0, 1.3)): median 1, p99 ~ 20 per run; summed over 1-3 runs the total's p99 is > 5x its median.
            var normal = Math.Sqrt(-2 * Math.Log(1 - random.NextDouble())) * Math.Cos(2 * Math.PI * random.NextDouble());
            var count = Math.Clamp((int)Math.Round(Math.Exp(1.3 * normal)), 1, MaxLength / 3);
            var letter = Letters[random.Next(Letters.Length)];
            prompt.Append(count).Append(letter);
            answer.Append(letter, count);
        }
        return new TaskExample(prompt.Append('=').ToString(), answer.ToString());
    }

    public double Reward(TaskExample example, string response)
    {
        var longer = Math.Max(example.Answer.Length, response.Length);
        if (longer == 0) return 1.0;
        var matching = 0;
        for (var i = 0; i < Math.Min(example.Answer.Length, response.Length); i++)
        {
            if (example.Answer[i] == response[i]) matching++;
        }
        return (double)matching / longer;
    }
}
