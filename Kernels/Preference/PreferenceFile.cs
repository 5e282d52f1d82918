using System.Text.Json;
using System.Text.Json.Serialization;
using Kernels.Text;

namespace Kernels.Preference;

/// <summary>
/// Preference pairs as JSONL, one <c>{"prompt": ..., "chosen": ..., "rejected": ...}</c> per line. Reading
/// names the line of anything that does not parse or lacks a field.
/// </summary>
public static class PreferenceFile
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static void Write(TextWriter writer, IEnumerable<PreferencePair> pairs)
    {
        foreach (var p in pairs) writer.WriteLine(JsonSerializer.Serialize(p, Json));
    }

    /// <summary>Reads JSONL; a line that is not an object with a non-empty prompt, chosen and rejected (chosen differing from rejected) is named with its number.</summary>
    public static IReadOnlyList<PreferencePair> Read(TextReader reader, string source = "pairs")
    {
        var pairs = new List<PreferencePair>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            PreferencePair? pair;
            try
            {
                pair = JsonSerializer.Deserialize<PreferencePair>(line, Json);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}:{number}: not a JSON object with \"prompt\", \"chosen\" and \"rejected\" ({Excerpt.OfJsonError(e.Message)})", e);
            }
            var missing = pair is null ? "prompt" : string.IsNullOrEmpty(pair.Prompt) ? "prompt" : string.IsNullOrEmpty(pair.Chosen) ? "chosen" : string.IsNullOrEmpty(pair.Rejected) ? "rejected" : null;
            if (missing is not null) throw new InvalidDataException($"{source}:{number}: \"{missing}\" is missing or empty");
            if (pair!.Chosen == pair.Rejected) throw new InvalidDataException($"{source}:{number}: \"chosen\" and \"rejected\" are the same response, which teaches no preference");
            pairs.Add(pair with { Line = number });
        }
        if (pairs.Count == 0) throw new InvalidDataException($"{source}: no preference pairs");
        return pairs;
    }

    public static IReadOnlyList<PreferencePair> ReadFile(string path)
    {
        using var reader = new StreamReader(path);
        return Read(reader, path);
    }
}
