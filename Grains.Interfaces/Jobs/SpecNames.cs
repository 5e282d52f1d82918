using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Grains.Interfaces.Jobs;

/// <summary>
/// The names job files give enum settings: the member's lower-case name, or the one its
/// <see cref="JsonStringEnumMemberNameAttribute"/> says ("reinforce++", "1f1b"). One table per enum, so a
/// setting is typed once and compared as a value everywhere else.
/// </summary>
public static class SpecNames
{
    public static string Of<T>(T value) where T : struct, Enum => Table<T>.Names[value];

    public static IReadOnlyList<string> All<T>() where T : struct, Enum => [.. Table<T>.Names.Values];

    /// <summary>The value named <paramref name="name"/>; an unknown name is refused listing the known ones.</summary>
    public static T Parse<T>(string name) where T : struct, Enum =>
        Table<T>.Names.FirstOrDefault(n => string.Equals(n.Value, name, StringComparison.OrdinalIgnoreCase)) is { Value: not null } found
            ? found.Key
            : throw new ArgumentException($"{Quoted.Of(name)} is not one of {string.Join(", ", All<T>())}");

    private static class Table<T> where T : struct, Enum
    {
        public static readonly Dictionary<T, string> Names = Enum.GetValues<T>().ToDictionary(v => v, v =>
            typeof(T).GetField(v.ToString())!.GetCustomAttribute<JsonStringEnumMemberNameAttribute>()?.Name ?? v.ToString().ToLowerInvariant());
    }
}

/// <summary>Reads and writes every enum of a job file by its <see cref="SpecNames"/> name.</summary>
public sealed class SpecNameConverter : JsonConverterFactory
{
    public override bool CanConvert(Type type) => type.IsEnum;

    public override JsonConverter CreateConverter(Type type, JsonSerializerOptions options) =>
        (JsonConverter)Activator.CreateInstance(typeof(Of<>).MakeGenericType(type))!;

    private sealed class Of<T> : JsonConverter<T> where T : struct, Enum
    {
        public override T Read(ref Utf8JsonReader reader, Type type, JsonSerializerOptions options)
        {
            var name = reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new SpecNameException($"expected one of {string.Join(", ", SpecNames.All<T>())}");
            try
            {
                return SpecNames.Parse<T>(name);
            }
            catch (ArgumentException e)
            {
                throw new SpecNameException(e.Message);
            }
        }

        public override void Write(Utf8JsonWriter writer, T value, JsonSerializerOptions options) => writer.WriteStringValue(SpecNames.Of(value));
    }
}

/// <summary>A bad enum name in a job file; the serializer adds where it is (<see cref="JsonException.Path"/>).</summary>
public sealed class SpecNameException(string message) : JsonException(message);
