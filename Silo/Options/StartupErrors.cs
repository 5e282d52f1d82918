using System.Text.Json;
using System.Text.RegularExpressions;

namespace Silo.Options;

/// <summary>Why a silo did not start, as the one line it prints and its exit code: 2 for bad settings, 1 for anything else.</summary>
public static partial class StartupErrors
{
    public static (string Line, int ExitCode) Describe(Exception error) => error switch
    {
        ConfigurationException e => ($"configuration error: {e.Message}", 2),
        InvalidDataException e => ($"configuration error: {NotParsed(e)}", 2),
        // A silo that cannot start (its membership store unreachable, say) ends with one line, not a crash.
        _ => ($"the silo could not start: {OneLine(error.GetBaseException().Message)}", 1),
    };

    /// <summary>
    /// A settings file that does not parse: the configuration loader names the file, and deep inside its
    /// causes the JSON reader has the line and what is wrong there.
    /// </summary>
    private static string NotParsed(InvalidDataException error)
    {
        var file = FileName().Match(error.Message) is { Success: true } m ? m.Groups["file"].Value : "the settings file";
        for (Exception? cause = error; cause is not null; cause = cause.InnerException)
        {
            if (cause is JsonException { LineNumber: { } line } json)
            {
                var reason = json.Message.Split(" LineNumber:")[0].Split(" Path: $")[0].Split(". ")[0].TrimEnd('.', ' ', '|');
                return $"{file}:{line + 1}: not valid JSON: {Clean(reason)}";
            }
        }
        return $"{file}: not valid JSON: {Clean(OneLine((error.InnerException ?? error).Message))}";
    }

    /// <summary>
    /// The reader quotes what it stumbled on: a character is kept ('x', '0x0A'), a longer run of the file is
    /// not, since it may hold a connection string.
    /// </summary>
    private static string Clean(string text) =>
        new([.. LongQuote().Replace(text, "(text)").Take(160).Select(c => char.IsControl(c) ? '?' : c)]);

    [GeneratedRegex("'[^']{5,}'?", RegexOptions.Singleline)]
    private static partial Regex LongQuote();

    [GeneratedRegex("from file '(?<file>[^']*)'")]
    private static partial Regex FileName();

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
