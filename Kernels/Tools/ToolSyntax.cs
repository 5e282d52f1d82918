namespace Kernels.Tools;

/// <summary>
/// How a response calls a tool, in characters the task tokenizer has: "[tool argument]" ends a turn of the
/// model's, and the tool's answer comes back appended to the context as "&lt;result&gt;" (an error as
/// "&lt;error: ...&gt;"), after which the model goes on. The result's tokens are the tool's, not the policy's.
/// </summary>
public static class ToolSyntax
{
    public const char CallOpen = '[';
    public const char CallClose = ']';
    public const char ResultOpen = '<';
    public const char ResultClose = '>';

    /// <summary>
    /// The call a response's text ends with: the tool's name and its argument between the last '[' and the
    /// closing ']'. A call with no '[', no name, or a name with other than lowercase letters is malformed:
    /// the error says why (the model sees it as the call's result; the task tokenizer has no quotes).
    /// </summary>
    public static (ToolCall? Call, string? Error) Parse(string response)
    {
        if (response.Length == 0 || response[^1] != CallClose) return (null, $"error: a call ends with {CallClose}");
        var open = response.LastIndexOf(CallOpen);
        if (open < 0) return (null, $"error: a call begins with {CallOpen}");
        var body = response[(open + 1)..^1];
        var space = body.IndexOf(' ');
        var (name, argument) = space < 0 ? (body, "") : (body[..space], body[(space + 1)..]);
        if (name.Length == 0 || !name.All(char.IsAsciiLetterLower)) return (null, name.Length == 0 ? "error: a call names its tool" : $"error: {name} is not a tool name");
        return (new ToolCall(name, argument), null);
    }

    /// <summary>A response's final answer, what a task's verifier checks: its text after the last tool answer's '&gt;' (all of it without one).</summary>
    public static string FinalAnswer(string response) => response[(response.LastIndexOf(ResultClose) + 1)..];

    /// <summary>What is appended to the context after a call: the result (or error) between '&lt;' and '&gt;'.</summary>
    public static string Answer(string result) => $"{ResultOpen}{result}{ResultClose}";
}

/// <summary>A parsed call: the tool's name and its argument text.</summary>
public sealed record ToolCall(string Tool, string Argument);
