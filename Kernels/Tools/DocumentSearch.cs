using System.Text.Json;
using Kernels.Text;
using Lucene.Net.Analysis.Standard;
using Lucene.Net.Documents;
using Lucene.Net.Index;
using Lucene.Net.QueryParsers.Classic;
using Lucene.Net.Search;
using Lucene.Net.Store;
using Lucene.Net.Util;

namespace Kernels.Tools;

/// <summary>
/// The search tool's work: a document set indexed in memory by Lucene.NET (standard analyzer: words and
/// numbers, lower-cased), queried with the model's words; the answer is the best-scoring document's text.
/// Every word is optional in the query (OR), so rare words (an item's number) decide the ranking.
/// </summary>
public sealed class DocumentSearch : IDisposable
{
    private const LuceneVersion Version = LuceneVersion.LUCENE_48;
    private const string Text = "text";
    private readonly RAMDirectory directory = new();
    private readonly StandardAnalyzer analyzer = new(Version);
    private readonly DirectoryReader reader;
    private readonly IndexSearcher searcher;

    public DocumentSearch(IEnumerable<string> documents)
    {
        using (var writer = new IndexWriter(directory, new IndexWriterConfig(Version, analyzer)))
        {
            foreach (var text in documents) writer.AddDocument([new TextField(Text, text, Field.Store.YES)]);
            writer.Commit();
        }
        reader = DirectoryReader.Open(directory);
        searcher = new IndexSearcher(reader);
    }

    public int Count => reader.NumDocs;

    /// <summary>The text of the document that best matches <paramref name="query"/>; "no document matches" when none does.</summary>
    public string Search(string query)
    {
        if (string.IsNullOrWhiteSpace(query)) return "error: an empty query";
        // The model's words are words, not query syntax: escaped, so "[search a:b]" cannot fail to parse.
        var parsed = new QueryParser(Version, Text, analyzer).Parse(QueryParserBase.Escape(query));
        var top = searcher.Search(parsed, 1).ScoreDocs;
        return top.Length == 0 ? "no document matches" : searcher.Doc(top[0].Doc).Get(Text);
    }

    /// <summary>
    /// Documents from JSONL, one <c>{"text": ...}</c> per line (other fields are kept out of the index); a line
    /// that is not such an object, or a file with none, is refused naming the file and line.
    /// </summary>
    public static IReadOnlyList<string> ReadDocuments(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"documents file {path} does not exist", path);
        var documents = new List<string>();
        var number = 0;
        foreach (var line in File.ReadLines(path))
        {
            number++;
            if (string.IsNullOrWhiteSpace(line)) continue;
            try
            {
                using var json = JsonDocument.Parse(line);
                if (json.RootElement.ValueKind != JsonValueKind.Object || !json.RootElement.TryGetProperty(Text, out var text) || text.ValueKind != JsonValueKind.String)
                {
                    throw new InvalidDataException($"{path}:{number}: not an object with a \"text\" string");
                }
                documents.Add(text.GetString() is { Length: > 0 } t ? t : throw new InvalidDataException($"{path}:{number}: \"text\" is empty"));
            }
            catch (JsonException e)
            {
                throw new InvalidDataException($"{path}:{number}: not JSON ({Excerpt.OfJsonError(e.Message)})", e);
            }
        }
        return documents.Count > 0 ? documents : throw new InvalidDataException($"{path}: no documents");
    }

    /// <summary>Writes documents as JSONL, the form <see cref="ReadDocuments"/> reads.</summary>
    public static void WriteDocuments(TextWriter writer, IEnumerable<string> documents)
    {
        foreach (var text in documents) writer.WriteLine(JsonSerializer.Serialize(new { text }));
    }

    public void Dispose()
    {
        reader.Dispose();
        analyzer.Dispose();
        directory.Dispose();
    }
}
