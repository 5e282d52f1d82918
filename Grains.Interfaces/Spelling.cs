namespace Grains.Interfaces;

/// <summary>Which known name a misspelt one was meant to be: for errors that say "did you mean ...?".</summary>
public static class Spelling
{
    /// <summary>The known name nearest to <paramref name="name"/> (case aside), if it is at most <paramref name="slips"/> edits away.</summary>
    public static string? Nearest(string name, IEnumerable<string> known, int slips) => known
        .Select(k => (Name: k, Distance: Distance(name.ToLowerInvariant(), k.ToLowerInvariant())))
        .Where(k => k.Distance <= slips).OrderBy(k => k.Distance).Select(k => k.Name).FirstOrDefault();

    /// <summary>Levenshtein distance: the fewest single-letter insertions, deletions and substitutions from a to b.</summary>
    public static int Distance(string a, string b)
    {
        var row = Enumerable.Range(0, b.Length + 1).ToArray();
        for (var i = 1; i <= a.Length; i++)
        {
            var (diagonal, row0) = (row[0], i);
            row[0] = row0;
            for (var j = 1; j <= b.Length; j++)
            {
                var next = Math.Min(Math.Min(row[j] + 1, row[j - 1] + 1), diagonal + (a[i - 1] == b[j - 1] ? 0 : 1));
                (diagonal, row[j]) = (row[j], next);
            }
        }
        return row[b.Length];
    }
}
