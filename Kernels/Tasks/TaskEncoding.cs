using Kernels.Tokenizers;

namespace Kernels.Tasks;

/// <summary>How a task's text becomes tokens: bos + prompt for the context, answer + eos for the target.</summary>
public sealed class TaskEncoding(ITokenizer tokenizer)
{
    public ITokenizer Tokenizer { get; } = tokenizer;

    public int[] Prompt(TaskExample example) => [Tokenizer.BosId, .. Tokenizer.Encode(example.Prompt)];

    public int[] Answer(TaskExample example) => [.. Tokenizer.Encode(example.Answer), Tokenizer.EosId];

    /// <summary>The response's text, up to (not including) its first end-of-sequence.</summary>
    public string Response(IEnumerable<int> response) => Tokenizer.Decode(response.TakeWhile(t => t != Tokenizer.EosId));

    /// <summary>Checks that every example encodes; the error names the 1-based line of the first that does not.</summary>
    public void Check(IReadOnlyList<TaskExample> examples, string source)
    {
        for (var i = 0; i < examples.Count; i++)
        {
            try
            {
                Prompt(examples[i]);
                Answer(examples[i]);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{source}:{i + 1}: {e.Message}", e);
            }
        }
    }
}
