namespace Kernels.Text;

/// <summary>
/// A file's text as an error repeats it: at most 48 characters (then how long it was) and no control
/// characters, so a 1 MB line or an ANSI escape in a dataset cannot flood or drive a terminal.
/// (Grains.Interfaces' Quoted does the same for job files; that project cannot see this one.)
/// </summary>
public static class Excerpt
{
    public static string Of(string text) => text.Length > 48 ? $"\"{Clean(text[..48])}...\" ({text.Length:N0} characters)" : $"\"{Clean(text)}\"";

    /// <summary>A JSON reader's message: its first sentence, without the "Path: ... | LineNumber: ..." tail, cleaned.</summary>
    public static string OfJsonError(string message)
    {
        var first = message.Split(" Path: $")[0].Split(". ")[0].TrimEnd('.');
        return first.Length > 120 ? Clean(first[..120]) + "..." : Clean(first);
    }

    private static string Clean(string text) => new([.. text.Select(c => char.IsControl(c) ? '?' : c)]);
}
