using System.Text.Json;
using System.Text.Json.Serialization;
using Kernels.Text;

namespace Kernels.Tasks;

/// <summary>
/// A task's examples as JSONL, one <c>{"prompt": ..., "answer": ...}</c> per line. Reading names the
/// line of anything that does not parse; generating is a pure function of the task and the seed.
/// </summary>
public static class TaskDataset
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        // Lines stay readable: "1+2=" rather than "1\u002B2=".
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IVerifiableTask Task(string name) => name switch
    {
        "arithmetic" => new ArithmeticTask(),
        "runlength" => new RunLengthTask(),
        "lookup" => new LookupTask(),
        _ => throw new ArgumentException($"task '{name}' is not one of arithmetic, runlength, lookup"),
    };

    public static IReadOnlyList<TaskExample> Generate(IVerifiableTask task, int count, long seed)
    {
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32)));
        return Enumerable.Range(0, count).Select(_ => task.Generate(random)).ToArray();
    }

    public static void Write(TextWriter writer, IEnumerable<TaskExample> examples)
    {
        foreach (var e in examples) writer.WriteLine(JsonSerializer.Serialize(e, Json));
    }

    /// <summary>Reads JSONL; a line that is not an object with a non-empty prompt and an answer is reported with its number.</summary>
    public static IReadOnlyList<TaskExample> Read(TextReader reader, string source = "dataset")
    {
        var examples = new List<TaskExample>();
        var number = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            TaskExample? example;
            try
            {
                example = JsonSerializer.Deserialize<TaskExample>(line, Json);
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{source}:{number}: not a JSON object with \"prompt\" and \"answer\" ({Excerpt.OfJsonError(e.Message)})", e);
            }
            if (example is null || string.IsNullOrEmpty(example.Prompt)) throw new InvalidDataException($"{source}:{number}: \"prompt\" is missing or empty");
            if (example.Answer is null) throw new InvalidDataException($"{source}:{number}: \"answer\" is missing");
            examples.Add(example with { Line = number });
        }
        if (examples.Count == 0) throw new InvalidDataException($"{source}: no examples");
        return examples;
    }

    /// <summary>A dataset file; spoken prompts' and answers' audio files are found relative to its folder.</summary>
    public static IReadOnlyList<TaskExample> ReadFile(string path)
    {
        using var reader = new StreamReader(path);
        var folder = Path.GetDirectoryName(Path.GetFullPath(path))!;
        return [.. Read(reader, path).Select(e => e with
        {
            Audio = e.Audio is { } audio ? Path.Combine(folder, audio) : null,
            AnswerAudio = e.AnswerAudio is { } answer ? Path.Combine(folder, answer) : null,
        })];
    }
}
