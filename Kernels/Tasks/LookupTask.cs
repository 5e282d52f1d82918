using Kernels.Text;
using Kernels.Tools;

namespace Kernels.Tasks;

/// <summary>
/// A question the model cannot answer from its weights: "item 4711+23=" asks for the code of item 4711 (a
/// seeded catalog of 9,000 items, each with a random two-digit code) plus 23. The catalog is published as
/// <see cref="Documents"/> ("item 4711 lamp code 58"), which the search tool indexes: a response looks the
/// item up, then adds. Exact-match reward on the final answer.
/// </summary>
public sealed class LookupTask(long catalogSeed = 1) : IVerifiableTask
{
    public const int FirstItem = 1000;
    public const int Items = 9000;
    private static readonly string[] Things = ["lamp", "chair", "desk", "cable", "valve", "drill", "brush", "clock", "plate", "spoon", "rope", "gear"];
    private readonly (string Thing, int Code)[] catalog = Catalog(catalogSeed);

    public string Name => "lookup";

    /// <summary>The bare answer: three digits at most and the end of the sequence.</summary>
    public int MaxResponseTokens => 4;

    public TaskExample Generate(Random random)
    {
        var item = FirstItem + random.Next(Items);
        var addend = random.Next(10, 100);
        return new TaskExample($"item {item}+{addend}=", (Code(item) + addend).ToString());
    }

    public double Reward(TaskExample example, string response) => response == example.Answer ? 1.0 : 0.0;

    /// <summary>The code of an item of the catalog.</summary>
    public int Code(int item) => catalog[Index(item)].Code;

    /// <summary>The catalog's documents, one per item: what the search tool indexes.</summary>
    public IEnumerable<string> Documents() => Enumerable.Range(FirstItem, Items).Select(Document);

    /// <summary>An item's document: its number, what it is and its code.</summary>
    public string Document(int item) => $"item {item} {catalog[Index(item)].Thing} code {Code(item)}";

    /// <summary>
    /// What a warm start teaches for a question: search the item, add with the calculator, answer:
    /// "[search item 4711]&lt;item 4711 lamp code 58&gt;[calc 58+23]&lt;81&gt;81".
    /// </summary>
    public string Demonstration(TaskExample example)
    {
        var (item, addend) = Parse(example.Prompt);
        var sum = $"{Code(item)}+{addend}";
        return $"[search item {item}]{ToolSyntax.Answer(Document(item))}[calc {sum}]{ToolSyntax.Answer(Calculator.Evaluate(sum))}{example.Answer}";
    }

    private static (int Item, int Addend) Parse(string prompt)
    {
        var body = prompt.StartsWith("item ", StringComparison.Ordinal) && prompt.EndsWith('=') ? prompt[5..^1].Split('+') : [];
        return body.Length == 2 && int.TryParse(body[0], out var item) && int.TryParse(body[1], out var addend) && item - FirstItem is >= 0 and < Items
            ? (item, addend)
            : throw new ArgumentException($"{Excerpt.Of(prompt)} is not a lookup question (\"item {FirstItem}+23=\")");
    }

    private static int Index(int item) => item - FirstItem is var i and >= 0 and < Items
        ? i : throw new ArgumentOutOfRangeException(nameof(item), item, $"the catalog's items are {FirstItem} to {FirstItem + Items - 1}");

    private static (string, int)[] Catalog(long seed)
    {
        var random = new Random(unchecked((int)seed ^ (int)(seed >> 32) ^ 0x10C4));
        return [.. Enumerable.Range(0, Items).Select(_ => (Things[random.Next(Things.Length)], random.Next(10, 100)))];
    }
}
