using Kernels.Text;

namespace Kernels.Tokenizers;

/// <summary>One token per character of a fixed alphabet, after the special tokens pad (0), bos (1) and eos (2).</summary>
public sealed class CharTokenizer : ITokenizer
{
    private const int Specials = 3;
    private readonly string alphabet;
    private readonly Dictionary<char, int> ids;

    public CharTokenizer(string alphabet)
    {
        if (alphabet.Length == 0) throw new ArgumentException("the alphabet is empty", nameof(alphabet));
        var repeated = alphabet.GroupBy(c => c).FirstOrDefault(g => g.Count() > 1);
        if (repeated is not null) throw new ArgumentException($"the alphabet repeats '{repeated.Key}'", nameof(alphabet));
        this.alphabet = alphabet;
        ids = alphabet.Select((c, i) => (c, i)).ToDictionary(p => p.c, p => p.i + Specials);
    }

    /// <summary>Digits, arithmetic signs, comma, space and the separators the built-in tasks use.</summary>
    public static CharTokenizer ForTasks() => new("0123456789+-*/=,:;()[]<> ?abcdefghijklmnopqrstuvwxyz");

    public int VocabSize => alphabet.Length + Specials;
    public int PadId => 0;
    public int BosId => 1;
    public int EosId => 2;

    public int[] Encode(string text)
    {
        var result = new int[text.Length];
        for (var i = 0; i < text.Length; i++)
        {
            result[i] = ids.TryGetValue(text[i], out var id)
                ? id
                : throw new ArgumentException($"character {Excerpt.Of(text[i].ToString())} (U+{(int)text[i]:X4}) at position {i} of {Excerpt.Of(text)} is not in the tokenizer's alphabet");
        }
        return result;
    }

    public string Decode(IEnumerable<int> tokenIds) =>
        new(tokenIds.Where(id => id >= Specials && id < VocabSize).Select(id => alphabet[id - Specials]).ToArray());
}
