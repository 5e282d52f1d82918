using Kernels.Tokenizers;

namespace Kernels.Tasks;

/// <summary>How a task's text becomes tokens: bos + prompt (its audio tokens when spoken) for the context, answer + eos for the target.</summary>
public sealed class TaskEncoding(ITokenizer tokenizer)
{
    public ITokenizer Tokenizer { get; } = tokenizer;

    public int[] Prompt(TaskExample example) => example.Audio is { } audio
        ? Tokenizer is ISpeechTokenizer speech ? [Tokenizer.BosId, .. speech.EncodeAudio(audio)]
            : throw new ArgumentException($"a spoken prompt ({Text.Excerpt.Of(audio)}) needs a model whose tokenizer has audio tokens")
        : [Tokenizer.BosId, .. Tokenizer.Encode(example.Prompt)];

    public int[] Answer(TaskExample example) => [.. Tokenizer.Encode(example.Answer), Tokenizer.EosId];

    /// <summary>What the warm start teaches: the demonstration if the example has one, else the answer (and its audio tokens when spoken); + eos.</summary>
    public int[] Demonstration(TaskExample example) => example.Demonstration is { } shown ? [.. Tokenizer.Encode(shown), Tokenizer.EosId]
        : example.AnswerAudio is { } audio ? Tokenizer is ISpeechTokenizer speech ? [.. Tokenizer.Encode(example.Answer), .. speech.EncodeAudio(audio), Tokenizer.EosId]
            : throw new ArgumentException($"a spoken answer ({Text.Excerpt.Of(audio)}) needs a model whose tokenizer has audio tokens")
        : Answer(example);

    /// <summary>The response's text, up to (not including) its first end-of-sequence.</summary>
    public string Response(IEnumerable<int> response) => Tokenizer.Decode(response.TakeWhile(t => t != Tokenizer.EosId));

    /// <summary>
    /// Checks that every example encodes and that its prompt and the longest response fit the model's
    /// positions; the error names the example's line (its 1-based place when it came from no file).
    /// </summary>
    public void Check(IReadOnlyList<TaskExample> examples, string source, int maxPositions, int maxResponseTokens)
    {
        for (var i = 0; i < examples.Count; i++)
        {
            var line = examples[i].Line > 0 ? examples[i].Line : i + 1;
            int prompt;
            try
            {
                prompt = Prompt(examples[i]).Length;
                Answer(examples[i]);
                if (Demonstration(examples[i]).Length > maxResponseTokens) throw new ArgumentException($"its demonstration of {Demonstration(examples[i]).Length} tokens is longer than a response may be ({maxResponseTokens})");
            }
            catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
            {
                throw new InvalidDataException($"{source}:{line}: {e.Message}", e);
            }
            if (prompt + maxResponseTokens + 1 > maxPositions)
            {
                throw new InvalidDataException($"{source}:{line}: a prompt of {prompt} tokens and up to {maxResponseTokens} response tokens exceed the model's {maxPositions} positions");
            }
        }
    }
}
