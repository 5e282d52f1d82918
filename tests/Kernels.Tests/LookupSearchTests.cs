using Kernels.Tasks;
using Kernels.Tokenizers;
using Kernels.Tools;

namespace Kernels.Tests;

public sealed class LookupSearchTests
{
    [Fact]
    public void A_lookup_question_is_an_items_code_plus_a_number_and_its_demonstration_calls_search_then_calc()
    {
        var task = new LookupTask();
        var examples = TaskDataset.Generate(task, 200, 5);

        foreach (var e in examples)
        {
            var parts = e.Prompt["item ".Length..^1].Split('+');
            var (item, addend) = (int.Parse(parts[0]), int.Parse(parts[1]));
            e.Answer.Should().Be((task.Code(item) + addend).ToString());
            task.Code(item).Should().BeInRange(10, 99);
            task.Demonstration(e).Should().Be($"[search item {item}]<{task.Document(item)}>[calc {task.Code(item)}+{addend}]<{e.Answer}>{e.Answer}");
            CharTokenizer.ForTasks().Encode(task.Demonstration(e)).Should().NotBeEmpty("the model can write and read every character of it");
        }
        examples.Select(e => e.Prompt).Distinct().Count().Should().BeGreaterThan(190, "9,000 items and 90 addends make repeats rare");
        new LookupTask().Documents().Should().Equal(task.Documents(), "the catalog is a function of its seed");
        new LookupTask(2).Documents().Should().NotEqual(task.Documents());
        task.Documents().Should().HaveCount(LookupTask.Items).And.OnlyHaveUniqueItems();
    }

    [Fact]
    public void A_question_that_is_not_a_lookup_is_refused_naming_it()
    {
        var task = new LookupTask();
        task.Invoking(t => t.Demonstration(new TaskExample("12+34=", "46"))).Should().Throw<ArgumentException>().WithMessage("\"12+34=\" is not a lookup question*");
        task.Invoking(t => t.Code(10_000)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("the catalog's items are 1000 to 9999*");
    }

    [Fact]
    public void Search_finds_the_document_of_the_item_asked_for_among_every_item()
    {
        var task = new LookupTask();
        using var search = new DocumentSearch(task.Documents());

        search.Count.Should().Be(LookupTask.Items);
        foreach (var item in new[] { 1000, 4711, 7777, 9999 })
        {
            search.Search($"item {item}").Should().Be(task.Document(item));
            search.Search($"{item}").Should().Be(task.Document(item), "the number alone is the rare word");
        }
        search.Search("item 12345").Should().StartWith("item ", "the common word still matches some document");
        search.Search("zebra").Should().Be("no document matches");
        search.Search("a:b (c").Should().Be("no document matches", "query syntax in the model's words is escaped, not a parse error");
        search.Search("  ").Should().Be("error: an empty query");
    }

    [Fact]
    public void Documents_read_back_as_written_and_a_bad_line_is_named()
    {
        var path = Path.Combine(Path.GetTempPath(), $"documents-{Guid.NewGuid():N}.jsonl");
        try
        {
            using (var writer = new StreamWriter(path)) DocumentSearch.WriteDocuments(writer, ["item 1000 lamp code 12", "a \"quoted\" one"]);
            DocumentSearch.ReadDocuments(path).Should().Equal("item 1000 lamp code 12", "a \"quoted\" one");

            File.AppendAllLines(path, ["{\"title\": \"x\"}"]);
            FluentActions.Invoking(() => DocumentSearch.ReadDocuments(path)).Should().Throw<InvalidDataException>().WithMessage($"{path}:3: not an object with a \"text\" string");
            File.WriteAllLines(path, ["{\"text\": \"ok\"}", "{text"]);
            FluentActions.Invoking(() => DocumentSearch.ReadDocuments(path)).Should().Throw<InvalidDataException>().WithMessage($"{path}:2: not JSON*");
            File.WriteAllLines(path, [""]);
            FluentActions.Invoking(() => DocumentSearch.ReadDocuments(path)).Should().Throw<InvalidDataException>().WithMessage($"{path}: no documents");
        }
        finally
        {
            File.Delete(path);
        }
        FluentActions.Invoking(() => DocumentSearch.ReadDocuments(path)).Should().Throw<FileNotFoundException>().WithMessage($"documents file {path} does not exist");
    }
}
