namespace Kernels.Preference;

/// <summary>
/// One line of a preference file: a prompt, the response preferred and the one not (DPO's y_w and y_l);
/// <see cref="Line"/>: where a file had it (0 when made in memory), so errors name it.
/// </summary>
public sealed record PreferencePair(string Prompt, string Chosen, string Rejected, [property: System.Text.Json.Serialization.JsonIgnore] int Line = 0)
{
    /// <summary>Two pairs are the same texts, wherever they were read from.</summary>
    public bool Equals(PreferencePair? other) => other is not null && Prompt == other.Prompt && Chosen == other.Chosen && Rejected == other.Rejected;

    public override int GetHashCode() => HashCode.Combine(Prompt, Chosen, Rejected);
}
