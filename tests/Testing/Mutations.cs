using System.Text;
using System.Text.RegularExpressions;

namespace Testing;

/// <summary>
/// Seeded mutations of a valid text input, for fuzz tests: what a hand edit, a bad copy or an adversary
/// does to a file. Each mutant applies one to three of: a character changed, a range deleted or
/// duplicated, a cut, a number replaced by an extreme one, a quoted string replaced by an odd one, a
/// stray line inserted. The same seed gives the same mutants.
/// </summary>
public sealed partial class Mutations(int seed)
{
    private readonly Random random = new(seed);

    private static readonly string[] ExtremeNumbers =
        ["0", "-1", "-0", "1e309", "-1e309", "2147483648", "-2147483649", "9223372036854775808", "99999999999999999999999", "0.5", "1e-320", "NaN", "1.7976931348623157E+308", "3", "65536", ""];

    private static readonly string[] OddStrings =
        ["", " ", "\\u0000", "\\u001b[31m", "..", "../../etc/passwd", "a,b", "null", "\\\"", "é", "\\ud800", new string('x', 5000), "1e309", "-1", "cpu", "gpu:0-2147483647"];

    private static readonly string[] StrayLines = ["}", "{", "[", ",", "\"x\": 1,", "null", "length,count", "1,2,3", "\t", "\0", "{\"prompt\": \"\"}"];

    /// <summary>Count mutants of <paramref name="valid"/>, each different from it.</summary>
    public IEnumerable<string> Of(string valid, int count)
    {
        for (var i = 0; i < count; i++)
        {
            var text = valid;
            var edits = random.Next(1, 4);
            for (var e = 0; e < edits || text == valid; e++) text = Mutate(text);
            yield return text;
        }
    }

    private string Mutate(string text)
    {
        if (text.Length == 0) return StrayLines[random.Next(StrayLines.Length)];
        var at = random.Next(text.Length);
        switch (random.Next(7))
        {
            case 0:
                var c = random.Next(4) == 0 ? (char)random.Next(0, 32) : (char)random.Next(32, 127);
                return text[..at] + c + text[(at + 1)..];
            case 1:
                return text.Remove(at, random.Next(1, Math.Min(40, text.Length - at) + 1));
            case 2:
                var length = random.Next(1, Math.Min(40, text.Length - at) + 1);
                return text.Insert(at, text.Substring(at, length));
            case 3:
                return text[..at];
            case 4:
                return Replace(text, Number(), ExtremeNumbers);
            case 5:
                return Replace(text, Quoted(), OddStrings, quote: true);
            default:
                var lineStart = text.LastIndexOf('\n', at) + 1;
                return text.Insert(lineStart, StrayLines[random.Next(StrayLines.Length)] + "\n");
        }
    }

    private string Replace(string text, Regex pattern, string[] choices, bool quote = false)
    {
        var matches = pattern.Matches(text);
        if (matches.Count == 0) return text + StrayLines[random.Next(StrayLines.Length)];
        var match = matches[random.Next(matches.Count)];
        var choice = choices[random.Next(choices.Length)];
        return new StringBuilder(text).Remove(match.Index, match.Length).Insert(match.Index, quote ? $"\"{choice}\"" : choice).ToString();
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][-+]?\d+)?")]
    private static partial Regex Number();

    [GeneratedRegex("\"[^\"\\n]*\"")]
    private static partial Regex Quoted();
}
