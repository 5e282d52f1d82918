using System.Text.RegularExpressions;
using Grains.Interfaces;
using Grains.Interfaces.Jobs;

namespace Silo.Options;

/// <summary>
/// The configuration binder's errors as an admin reads them: the key, what it takes, and the nearest
/// setting to a misspelt one; values repeated only through <see cref="Quoted"/>.
/// </summary>
internal static partial class BinderErrors
{
    public static ConfigurationException Describe(InvalidOperationException error, string section, Type options)
    {
        var settings = options.GetProperties().Select(p => p.Name).ToArray();
        if (Unknown().Match(error.Message) is { Success: true } unknown)
        {
            var name = unknown.Groups["names"].Value.Split("', '")[0].Trim('\'');
            var meant = Spelling.Nearest(name, settings, slips: Math.Min(2, name.Length / 3)) is { } near ? $" (did you mean {section}:{near}?)" : "";
            return new ConfigurationException(section, $"{Quoted.Of(name)} is not a setting{meant}; the settings are {string.Join(", ", settings)}");
        }
        if (NotConverted().Match(error.Message) is { Success: true } converted)
        {
            var type = options.GetProperty(converted.Groups["key"].Value.Split(':')[^1])?.PropertyType;
            var expected = type switch
            {
                { IsEnum: true } => $"one of {string.Join(", ", Enum.GetNames(type))}",
                _ when type == typeof(bool) => "true or false",
                _ when type == typeof(int) => $"a whole number from {int.MinValue} to {int.MaxValue}",
                _ => $"a {type?.Name ?? "value"}",
            };
            return new ConfigurationException(converted.Groups["key"].Value, $"{Quoted.Of(converted.Groups["value"].Value)} is not {expected}");
        }
        return new ConfigurationException(section, error.Message.ReplaceLineEndings(" "));
    }

    [GeneratedRegex(@"the following properties were not found on the instance of [\w.]+: (?<names>.*)$", RegexOptions.Singleline)]
    private static partial Regex Unknown();

    [GeneratedRegex(@"^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']+)' to type", RegexOptions.Singleline)]
    private static partial Regex NotConverted();
}
