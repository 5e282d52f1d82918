namespace Grains.Interfaces.Jobs;

/// <summary>
/// User input as an error message repeats it: at most 64 characters (then how long it was) and no
/// control characters, so a 50 MB name or an ANSI escape in a job file cannot flood or drive a terminal.
/// </summary>
public static class Quoted
{
    public const int MaxShown = 64;

    public static string Of(string? text)
    {
        if (text is null) return "null";
        var shown = new string([.. text.Take(MaxShown).Select(c => char.IsControl(c) ? '?' : c)]);
        return text.Length > MaxShown ? $"'{shown}...' ({text.Length:N0} characters)" : $"'{shown}'";
    }
}
