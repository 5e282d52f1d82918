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
    /// <summary>
    /// A spoken prompt: a WAV file (relative to the dataset's folder) the model hears instead of reading the prompt's text,
    /// through a speech tokenizer's audio tokens (the text stays for people and the verifier).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? Audio { get; init; }

    /// <summary>
    /// The answer spoken: a WAV file (relative to the dataset's folder) whose audio tokens the warm start teaches after the
    /// answer's text, so the model answers in text and then says it (a reward may judge how it sounds: rl.audioReward).
    /// </summary>
    [System.Text.Json.Serialization.JsonIgnore(Condition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
    public string? AnswerAudio { get; init; }

    /// <summary>Two examples are the same prompt, answer, demonstration and audio, wherever they were read from.</summary>
    public bool Equals(TaskExample? other) => other is not null && Prompt == other.Prompt && Answer == other.Answer && Demonstration == other.Demonstration
        && Audio == other.Audio && AnswerAudio == other.AnswerAudio;

    public override int GetHashCode() => HashCode.Combine(Prompt, Answer, Demonstration, Audio, AnswerAudio);
}
