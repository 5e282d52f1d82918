namespace Kernels.Tokenizers;

/// <summary>
/// Text to token ids and back. The built-in tasks use <see cref="CharTokenizer"/>; a BPE tokenizer
/// (Microsoft.ML.Tokenizers) can stand behind the same interface for real models.
/// </summary>
public interface ITokenizer
{
    int VocabSize { get; }
    int PadId { get; }
    int BosId { get; }
    int EosId { get; }

    /// <summary>The ids of <paramref name="text"/>, without special tokens.</summary>
    int[] Encode(string text);

    /// <summary>The text of <paramref name="ids"/>; special tokens are left out.</summary>
    string Decode(IEnumerable<int> ids);
}
