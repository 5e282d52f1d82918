using System.Reflection;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Grains.Interfaces.Jobs;

/// <summary>
/// The JSON reader's errors as a researcher reads them: one line, "file:line: field: problem", with
/// the .NET type names turned into what the field takes and user text never repeated raw (a misspelt
/// field 5,000 characters long, or one holding a newline, is shown by <see cref="Quoted"/>).
/// </summary>
internal static partial class JobFileErrors
{
    public static string Describe(JsonException error, string source)
    {
        var at = error.LineNumber is { } line ? $"{source}:{line + 1}" : source;
        if (UnknownField().Match(error.Message) is { Success: true } unknown)
        {
            // The path ends with the unknown name itself: name the object it is in instead.
            var (name, type) = (unknown.Groups["name"].Value, unknown.Groups["type"].Value);
            var within = type == typeof(JobSpec).FullName ? "a job file" : JsonPath(error.Path?[..Math.Max(0, error.Path.LastIndexOfAny(['.', '[']))]);
            var meant = Spelling.Nearest(name, Fields(type), slips: Math.Min(2, name.Length / 3)) is { } near ? $" (did you mean '{near}'?)" : "";
            return $"{at}: {Quoted.Of(name)} is not a field of {within}{meant}";
        }
        var field = JsonPath(error.Path) is { Length: > 0 } path ? $"{path}: " : "";
        if (error is SpecNameException) return $"{at}: {field}{error.Message}";
        if (NotConverted().Match(error.Message) is { Success: true } converted)
        {
            return $"{at}: {(field == "" ? "the file: " : field)}must be {Expected(converted.Groups["type"].Value)}";
        }
        // A syntax error: the reader's first sentence, without its own "Path: ... | LineNumber: ..." tail.
        var reason = error.Message.Split(" Path: $")[0].Split(". ")[0].TrimEnd('.');
        return $"{at}: {field}not valid JSON: {Clean(reason)}";
    }

    /// <summary>The field a reader's path names: "$.rl.emulation.prices['H20']" is rl.emulation.prices (a map's key is user text, never repeated raw).</summary>
    private static string JsonPath(string? path) => path is null ? "" : MapKey().Replace(path, "").TrimStart('$').TrimStart('.');

    [GeneratedRegex(@"\['(?:[^'\\]|\\.)*'\]")]
    private static partial Regex MapKey();

    private static IEnumerable<string> Fields(string typeName) =>
        typeof(JobSpec).Assembly.GetType(typeName)?.GetProperties()
            .Where(p => p.GetCustomAttribute<IdAttribute>() is not null)
            .Select(p => JsonNamingPolicy.CamelCase.ConvertName(p.Name)) ?? [];

    private static string Expected(string typeName) => typeName switch
    {
        "System.Int32" => $"a whole number from {int.MinValue} to {int.MaxValue}",
        "System.Int64" => "a whole number",
        "System.Double" => "a number",
        "System.String" => "a string",
        "System.Boolean" => "true or false",
        _ when typeof(JobSpec).Assembly.GetType(typeName) is { IsEnum: true } e =>
            $"one of {string.Join(", ", (IReadOnlyList<string>)typeof(SpecNames).GetMethod(nameof(SpecNames.All))!.MakeGenericMethod(e).Invoke(null, null)!)}",
        _ when typeName.StartsWith(NullableOf, StringComparison.Ordinal) => Expected(typeName[NullableOf.Length..].Split(',')[0]),
        _ => "an object { ... }",
    };

    private const string NullableOf = "System.Nullable`1[[";

    /// <summary>The reader quotes the offending character; a control character is shown as '?'.</summary>
    private static string Clean(string text) => new([.. text.Take(120).Select(c => char.IsControl(c) ? '?' : c)]);

    [GeneratedRegex(@"^The JSON property '(?<name>.*)' could not be mapped to any \.NET member contained in type '(?<type>[\w.]+)'", RegexOptions.Singleline)]
    private static partial Regex UnknownField();

    [GeneratedRegex(@"could not be converted to (?<type>[\w.`\[\], =]+?)\. Path")]
    private static partial Regex NotConverted();
}
