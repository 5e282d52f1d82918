namespace Kernels.Tokenizers;

/// <summary>
/// Text to token ids and back: <see cref="CharTokenizer"/> for the demo preset, a Hugging Face folder's byte-level
/// BPE (<see cref="HuggingFaceTokenizer"/>, through Microsoft.ML.Tokenizers) for a model given as a folder.
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
