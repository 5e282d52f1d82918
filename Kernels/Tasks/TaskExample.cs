namespace Kernels.Tasks;

/// <summary>
/// One line of a task's dataset: the prompt the policy sees and the reference answer the verifier
/// checks against; <see cref="Line"/>: where a file had it (0 when generated), so errors name it.
/// <see cref="Demonstration"/>, when given, is what the supervised warm start teaches instead of the bare answer
/// (a response that calls a tool, "[calc 12+34]&lt;46&gt;46", ending with the answer).
/// </summary>
public sealed record TaskExample(string Prompt, string Answer, [property: System.Text.Json.Serialization.JsonIgnore] int Line = 0,
    [property: System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)] string? Demonstration = null)
{
    /// <summary>Two examples are the same prompt, answer and demonstration, wherever they were read from.</summary>
    public bool Equals(TaskExample? other) => other is not null && Prompt == other.Prompt && Answer == other.Answer && Demonstration == other.Demonstration;

    public override int GetHashCode() => HashCode.Combine(Prompt, Answer, Demonstration);
}
