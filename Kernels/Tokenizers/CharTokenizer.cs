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

    /// <summary>The special tokens' names in a Hugging Face tokenizer, by id.</summary>
    public static readonly string[] SpecialNames = ["<pad>", "<s>", "</s>"];

    /// <summary>
    /// This tokenizer as a Hugging Face tokenizer.json: a word-level vocabulary of the special tokens and one
    /// entry per character, each character split off on its own before lookup, decoded by joining.
    /// </summary>
    public System.Text.Json.Nodes.JsonObject ToHuggingFaceJson()
    {
        var vocab = new System.Text.Json.Nodes.JsonObject();
        for (var id = 0; id < VocabSize; id++) vocab[id < Specials ? SpecialNames[id] : alphabet[id - Specials].ToString()] = id;
        var added = new System.Text.Json.Nodes.JsonArray([.. SpecialNames.Select((name, id) => (System.Text.Json.Nodes.JsonNode)new System.Text.Json.Nodes.JsonObject
        {
            ["id"] = id, ["content"] = name, ["single_word"] = false, ["lstrip"] = false, ["rstrip"] = false, ["normalized"] = false, ["special"] = true,
        })]);
        return new System.Text.Json.Nodes.JsonObject
        {
            ["version"] = "1.0",
            ["truncation"] = null,
            ["padding"] = null,
            ["added_tokens"] = added,
            ["normalizer"] = null,
            ["pre_tokenizer"] = new System.Text.Json.Nodes.JsonObject
            {
                ["type"] = "Split", ["pattern"] = new System.Text.Json.Nodes.JsonObject { ["Regex"] = "." }, ["behavior"] = "Isolated", ["invert"] = false,
            },
            ["post_processor"] = null,
            ["decoder"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "Fuse" },
            ["model"] = new System.Text.Json.Nodes.JsonObject { ["type"] = "WordLevel", ["vocab"] = vocab, ["unk_token"] = SpecialNames[0] },
        };
    }
}
