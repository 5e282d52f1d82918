using System.Reflection;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Grains.Interfaces.Jobs;
using Silo.Options;

namespace Client.Docs;

/// <summary>
/// The job-file and silo-settings references (docs/reference), made from the settings classes themselves:
/// each field's name as the file spells it, its default as a new instance holds it, the names an enum
/// accepts, and the doc comment written on the property. A test compares the committed pages with these,
/// so the reference cannot drift from the code; `actors reference` writes them again.
/// </summary>
public static partial class ReferenceDocs
{
    public const string JobFileName = "job-file.md", SiloSettingsName = "silo-settings.md";

    private static readonly JsonSerializerOptions JobJson = new(JsonSerializerDefaults.Web) { Converters = { new SpecNameConverter() } };

    public static string JobFile()
    {
        var page = new StringBuilder("# Job file reference\n\nGenerated from the job-file classes (`Grains.Interfaces/Jobs`) by `actors reference`; do not edit by hand.\n"
            + "A field left out takes its default. Sections are JSON objects inside the job file: `rl`, then `rl.async`, `rl.pools` and the others, and `dpo`.\n");
        Section(page, "(top level)", typeof(JobSpec), new JobSpec());
        Section(page, "rl", typeof(RlSpec), new RlSpec());
        Sections(page, "rl", typeof(RlSpec));
        Section(page, "dpo", typeof(DpoSpec), new DpoSpec());
        return page.ToString();
    }

    /// <summary>The sections inside <paramref name="type"/>'s, each followed by its own (rl.emulation, then rl.emulation.tools).</summary>
    private static void Sections(StringBuilder page, string prefix, Type type)
    {
        foreach (var property in Settable(type).Where(p => Nested(p.PropertyType) is not null))
        {
            var nested = Nested(property.PropertyType)!;
            var name = $"{prefix}.{JsonName(property)}";
            Section(page, name, nested, Activator.CreateInstance(nested)!);
            Sections(page, name, nested);
        }
    }

    public static string SiloSettings()
    {
        var page = new StringBuilder("# Silo settings reference\n\nGenerated from the silo's options classes (`Silo/Options`, `Grains/CheckpointOptions.cs`) by `actors reference`; do not edit by hand.\n"
            + "Settings come from `appsettings.json` beside the silo, the environment (`Section__Key`) and the command line (`--Section:Key=value`).\n");
        foreach (var property in typeof(global::Silo.Options.SiloSettings).GetConstructors().Single().GetParameters())
        {
            var type = property.ParameterType;
            var section = (string)type.GetField("Section")!.GetValue(null)!;
            var defaults = Activator.CreateInstance(type)!;
            page.Append($"\n## {section}\n\n{Summary($"T:{type.FullName}")}\n\n| key | default | values | description |\n|---|---|---|---|\n".Replace("\n\n\n", "\n\n"));
            foreach (var p in type.GetProperties().Where(p => p.CanWrite))
            {
                var value = p.GetValue(defaults);
                // A default taken from the machine (Silo:Name) would make the page differ from one machine to the next.
                var shown = value switch
                {
                    null => "", bool b => b ? "true" : "false", string s when s == Environment.MachineName => "", string s => s,
                    _ => Convert.ToString(value, System.Globalization.CultureInfo.InvariantCulture)!,
                };
                page.Append($"| `{section}:{p.Name}` | {Code(shown)} | {Values(p.PropertyType)} | {Summary($"P:{type.FullName}.{p.Name}")} |\n");
            }
        }
        return page.ToString();
    }

    private static void Section(StringBuilder page, string name, Type type, object defaults)
    {
        var json = JsonSerializer.SerializeToNode(defaults, type, JobJson)!.AsObject();
        var summary = Summary($"T:{type.FullName}");
        page.Append($"\n## {name}\n\n{(summary.Length > 0 ? summary + "\n\n" : "")}| field | default | values | description |\n|---|---|---|---|\n");
        foreach (var property in Settable(type))
        {
            var field = JsonName(property);
            var value = json[field];
            var shown = Nested(property.PropertyType) is not null ? "(section)" : value is null ? "" : value.ToJsonString(JobJson);
            page.Append($"| `{field}` | {Code(shown)} | {Values(property.PropertyType)} | {Summary($"P:{type.FullName}.{property.Name}")} |\n");
        }
    }

    private static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties().Where(p => p.SetMethod is not null && p.GetCustomAttribute<System.Text.Json.Serialization.JsonIgnoreAttribute>() is null).OrderBy(p => p.MetadataToken);

    /// <summary>The section type a property holds (a class of the job file's namespace), or null for a plain value.</summary>
    private static Type? Nested(Type type) => (Nullable.GetUnderlyingType(type) ?? type) is { IsClass: true, IsArray: false, Namespace: "Grains.Interfaces.Jobs" } t && t != typeof(string) ? t : null;

    private static string JsonName(PropertyInfo property) => JsonNamingPolicy.CamelCase.ConvertName(property.Name);

    private static string Values(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        if (!underlying.IsEnum) return "";
        if (underlying.Namespace == "Grains.Interfaces.Jobs")
        {
            var all = (IEnumerable<string>)typeof(SpecNames).GetMethod(nameof(SpecNames.All))!.MakeGenericMethod(underlying).Invoke(null, null)!;
            return string.Join(", ", all.Select(v => $"`{v}`"));
        }
        return string.Join(", ", Enum.GetNames(underlying).Select(v => $"`{v}`"));
    }

    private static string Code(string text) => text.Length == 0 ? "" : $"`{text.Replace("|", "\\|")}`";

    private static readonly Lazy<Dictionary<string, string>> Comments = new(() => Directory.GetFiles(AppContext.BaseDirectory, "*.xml")
        .Select(f => { try { return XDocument.Load(f); } catch (System.Xml.XmlException) { return null; } })
        .Where(d => d?.Root?.Name == "doc")
        .SelectMany(d => d!.Descendants("member"))
        .Where(m => m.Element("summary") is not null)
        .GroupBy(m => (string)m.Attribute("name")!)
        .ToDictionary(g => g.Key, g => Text(g.First().Element("summary")!)));

    /// <summary>A member's doc comment as one Markdown line, or nothing where it has none.</summary>
    private static string Summary(string member) => Comments.Value.GetValueOrDefault(member, "").Replace("|", "\\|");

    private static string Text(XElement summary)
    {
        var text = new StringBuilder();
        foreach (var node in summary.Nodes())
        {
            text.Append(node switch
            {
                XText t => t.Value,
                XElement { Name.LocalName: "see" or "seealso" } e => $"`{((string?)e.Attribute("cref") ?? (string?)e.Attribute("langword") ?? "").Split('.', ':').Last()}`",
                XElement { Name.LocalName: "paramref" or "typeparamref" } e => $"`{(string?)e.Attribute("name")}`",
                XElement { Name.LocalName: "c" } e => $"`{e.Value}`",
                XElement e => e.Value,
                _ => "",
            });
        }
        return Spaces().Replace(text.ToString(), " ").Trim();
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();
}
