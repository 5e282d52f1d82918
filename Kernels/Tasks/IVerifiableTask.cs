namespace Kernels.Tasks;

/// <summary>
/// A built-in task: it generates examples, and a rule-based verifier scores a response against the
/// reference answer with a reward in [0, 1].
/// </summary>
public interface IVerifiableTask
{
    string Name { get; }

    /// <summary>A response needs at most this many tokens (end-of-sequence included).</summary>
    int MaxResponseTokens { get; }

    /// <summary>One example drawn with <paramref name="random"/>.</summary>
    TaskExample Generate(Random random);

    /// <summary>The reward of <paramref name="response"/> (decoded text, no special tokens).</summary>
    double Reward(TaskExample example, string response);
}
