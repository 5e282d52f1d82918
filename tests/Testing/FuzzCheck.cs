namespace Testing;

/// <summary>
/// What every mutated input must get: accepted, or refused with one of the expected error types whose
/// message is one short line; never another exception, never a hang.
/// </summary>
public static class FuzzCheck
{
    /// <summary>Long enough for any honest check on a busy 2-core machine; only a hang reaches it.</summary>
    private static readonly TimeSpan Hang = TimeSpan.FromSeconds(60);

    /// <summary>Runs <paramref name="check"/> on one mutant; returns its error message, or null if the input was accepted.</summary>
    public static async Task<string?> Outcome(string mutant, Action check, params Type[] refusals)
    {
        var run = Task.Run(check);
        if (await Task.WhenAny(run, Task.Delay(Hang)) != run) throw new TimeoutException($"no answer within {Hang.TotalSeconds} s for input:\n{mutant}");
        if (run.Exception?.InnerException is not { } error) return null;
        if (!refusals.Contains(error.GetType())) throw new InvalidOperationException($"unexpected {error.GetType().Name} for input:\n{Shown(mutant)}", error);
        if (error.Message.Contains('\n') || error.Message.Length is 0 or > 400)
        {
            throw new InvalidOperationException($"not one short line: \"{error.Message}\" for input:\n{Shown(mutant)}");
        }
        return error.Message;
    }

    private static string Shown(string mutant) => mutant.Length > 2000 ? mutant[..2000] + "..." : mutant;
}
