namespace Kernels.Tasks;

/// <summary>
/// One line of a task's dataset: the prompt the policy sees and the reference answer the verifier
/// checks against; <see cref="Line"/>: where a file had it (0 when generated), so errors name it.
/// </summary>
public sealed record TaskExample(string Prompt, string Answer, [property: System.Text.Json.Serialization.JsonIgnore] int Line = 0)
{
    /// <summary>Two examples are the same prompt and answer, wherever they were read from.</summary>
    public bool Equals(TaskExample? other) => other is not null && Prompt == other.Prompt && Answer == other.Answer;

    public override int GetHashCode() => HashCode.Combine(Prompt, Answer);
}
