using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.ML.Tokenizers;

namespace Kernels.Tokenizers;

/// <summary>
/// The tokenizer of a Hugging Face model folder: its tokenizer.json read into a tokenizer, the special ids from its
/// config.json. Byte-level BPE (GPT-2, Qwen2, LLaMA 3: a vocabulary, merges, a ByteLevel pre-tokenizer or decoder)
/// runs in Microsoft.ML.Tokenizers; the per-character WordLevel vocabulary `actors export` writes is read back as
/// the <see cref="CharTokenizer"/> it came from. Anything else is refused naming what it is.
/// </summary>
public static class HuggingFaceTokenizer
{
    /// <summary>GPT-2's pre-tokenizer pattern: what a ByteLevel pre-tokenizer with use_regex splits on.</summary>
    public const string Gpt2Pattern = @"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

    /// <summary>Reads <paramref name="folder"/>'s tokenizer.json and the special ids of its config.json.</summary>
    public static ITokenizer Read(string folder)
    {
        var path = Path.Combine(folder, "tokenizer.json");
        var configPath = Path.Combine(folder, "config.json");
        if (!File.Exists(path)) throw new FileNotFoundException($"{folder}: no tokenizer.json (a Hugging Face model folder has one)", path);
        var json = Parse(path);
        var config = File.Exists(configPath) ? Parse(configPath) : throw new FileNotFoundException($"{folder}: no config.json", configPath);
        var model = json["model"] as JsonObject ?? throw new InvalidDataException($"{path}: no \"model\" object");
        var type = model["type"]?.GetValue<string>() ?? (model["merges"] is not null ? "BPE" : null);
        ITokenizer text = type switch
        {
            "BPE" => BpeText.From(path, json, model, Specials(configPath, config)),
            "WordLevel" => Characters(path, model),
            _ => throw new InvalidDataException($"{path}: model type '{type}' is not supported (byte-level BPE, or the WordLevel vocabulary actors export writes)"),
        };
        // A speech model: its audio codebooks beside it, their tokens after the text ones.
        var codebooks = Path.Combine(folder, CodebooksFile);
        return File.Exists(codebooks) ? new SpeechTokenizer(text, Audio.AudioTokenizer.Load(codebooks)) : text;
    }

    /// <summary>A speech model's audio codebooks, in its folder (see <see cref="Audio.AudioTokenizer.Save"/>).</summary>
    public const string CodebooksFile = "audio_codebooks.safetensors";

    /// <summary>
    /// A speech tokenizer's tokenizer.json: its text vocabulary's, and each audio token named as an added token
    /// ("&lt;|audio_l_12|&gt;" a linguistic code, "&lt;|audio_s_5|&gt;" a semantic one) at its id.
    /// </summary>
    public static JsonObject SpeechJson(CharTokenizer text, SpeechTokenizer speech)
    {
        var json = text.ToHuggingFaceJson();
        var added = (JsonArray)json["added_tokens"]!;
        for (var k = 0; k < speech.Audio.VocabSize; k++)
        {
            var name = k < speech.Audio.LinguisticSize ? $"<|audio_l_{k}|>" : $"<|audio_s_{k - speech.Audio.LinguisticSize}|>";
            added.Add(new JsonObject { ["id"] = speech.AudioOffset + k, ["content"] = name, ["special"] = true });
        }
        return json;
    }

    private static JsonObject Parse(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new InvalidDataException($"{path}: not a JSON object");
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>config.json's pad, bos and eos ids: eos required (generation stops there), bos and pad default to it; a list of eos ids gives its first.</summary>
    private static (int Pad, int Bos, int Eos) Specials(string path, JsonObject config)
    {
        int? Id(string field) => config[field] switch
        {
            JsonArray { Count: > 0 } list => list[0]!.GetValue<int>(),
            JsonValue value when value.TryGetValue<int>(out var id) => id,
            _ => null,
        };
        var eos = Id("eos_token_id") ?? throw new InvalidDataException($"{path}: eos_token_id is missing (generation stops at it)");
        return (Id("pad_token_id") ?? eos, Id("bos_token_id") ?? eos, eos);
    }

    /// <summary>The export's per-character vocabulary: the three specials, then one entry per character, by id.</summary>
    private static CharTokenizer Characters(string path, JsonObject model)
    {
        var vocab = (model["vocab"] as JsonObject ?? throw new InvalidDataException($"{path}: a WordLevel model without a vocab"))
            .Select(e => (Token: e.Key, Id: e.Value!.GetValue<int>())).OrderBy(e => e.Id).ToArray();
        var specials = vocab.Take(CharTokenizer.SpecialNames.Length).Select(e => e.Token);
        if (!specials.SequenceEqual(CharTokenizer.SpecialNames) || vocab.Select((e, k) => e.Id != k).Any(wrong => wrong)
            || vocab.Skip(CharTokenizer.SpecialNames.Length).Any(e => e.Token.Length != 1))
        {
            throw new InvalidDataException($"{path}: a WordLevel vocabulary is read only as actors export writes it ({string.Join(", ", CharTokenizer.SpecialNames)}, then one character per id)");
        }
        return new CharTokenizer(string.Concat(vocab.Skip(CharTokenizer.SpecialNames.Length).Select(e => e.Token)));
    }

    /// <summary>Byte-level BPE behind <see cref="ITokenizer"/>: text in, ids out, the special tokens left out of decoding.</summary>
    private sealed class BpeText(BpeTokenizer bpe, int vocabSize, (int Pad, int Bos, int Eos) specials, IReadOnlySet<int> specialIds) : ITokenizer
    {
        public int VocabSize => vocabSize;
        public int PadId => specials.Pad;
        public int BosId => specials.Bos;
        public int EosId => specials.Eos;

        public int[] Encode(string text) => [.. bpe.EncodeToIds(text)];

        public string Decode(IEnumerable<int> ids) => bpe.Decode(ids.Where(id => !specialIds.Contains(id)));

        public static BpeText From(string path, JsonObject json, JsonObject model, (int Pad, int Bos, int Eos) specials)
        {
            var vocab = (model["vocab"] as JsonObject ?? throw new InvalidDataException($"{path}: a BPE model without a vocab"))
                .Select(e => KeyValuePair.Create(e.Key, e.Value!.GetValue<int>())).ToList();
            // Merges are "a b" strings, or [a, b] pairs in newer files.
            var merges = (model["merges"] as JsonArray ?? throw new InvalidDataException($"{path}: a BPE model without merges"))
                .Select(m => m is JsonArray pair ? $"{pair[0]!.GetValue<string>()} {pair[1]!.GetValue<string>()}" : m!.GetValue<string>()).ToList();
            var added = (json["added_tokens"] as JsonArray ?? []).OfType<JsonObject>()
                .ToDictionary(t => t["content"]!.GetValue<string>(), t => t["id"]!.GetValue<int>());
            var steps = Steps(json["pre_tokenizer"]).Concat(Steps(json["decoder"])).ToArray();
            if (!steps.Any(s => s["type"]?.GetValue<string>() == "ByteLevel"))
            {
                throw new InvalidDataException($"{path}: a BPE model without a ByteLevel pre-tokenizer or decoder is not supported (SentencePiece-style BPE, as LLaMA 2's, is not)");
            }
            var pattern = steps.Where(s => s["type"]?.GetValue<string>() == "Split").Select(s => s["pattern"]?["Regex"]?.GetValue<string>()).FirstOrDefault(p => p is not null)
                ?? (steps.Any(s => s["type"]?.GetValue<string>() == "ByteLevel" && s["use_regex"]?.GetValue<bool>() != false) ? Gpt2Pattern : null);
            Regex regex;
            try
            {
                regex = new Regex(pattern ?? @"[\s\S]+", RegexOptions.Compiled);
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"{path}: the pre-tokenizer's pattern does not compile: {e.Message}", e);
            }
            var options = new BpeOptions(vocab.Concat(added.Where(a => !vocab.Any(v => v.Key == a.Key)).Select(a => KeyValuePair.Create(a.Key, a.Value))))
            {
                Merges = merges, ByteLevel = true, PreTokenizer = new RegexPreTokenizer(regex, added), SpecialTokens = added,
            };
            var ids = vocab.Select(v => v.Value).Concat(added.Values).ToArray();
            var specialIds = added.Values.Append(specials.Pad).Append(specials.Bos).Append(specials.Eos).ToHashSet();
            return new BpeText(BpeTokenizer.Create(options), ids.Max() + 1, specials, specialIds);
        }

        /// <summary>A pre-tokenizer or decoder and, for a Sequence, its parts.</summary>
        private static IEnumerable<JsonObject> Steps(JsonNode? node) => node switch
        {
            JsonObject { } o when o["type"]?.GetValue<string>() == "Sequence" => (o["pretokenizers"] ?? o["decoders"]) is JsonArray parts ? parts.OfType<JsonObject>() : [],
            JsonObject { } o => [o],
            _ => [],
        };
    }
}
