using Kernels.Tasks;

namespace Kernels.Audio;

/// <summary>The arithmetic task's questions as a person would say them: "12+34=" is "what is twelve plus thirty four".</summary>
public static class SpokenArithmetic
{
    private static readonly string[] Ones = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
        "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"];
    private static readonly string[] Tens = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];

    public static string Question(TaskExample example)
    {
        var prompt = example.Prompt.TrimEnd('=');
        var at = prompt.IndexOfAny(['+', '-', '*'], 1);
        if (at < 0 || !int.TryParse(prompt[..at], out var a) || !int.TryParse(prompt[(at + 1)..], out var b))
        {
            throw new ArgumentException($"{Text.Excerpt.Of(example.Prompt)} is not a question of two numbers and a sign");
        }
        var sign = prompt[at] switch { '+' => "plus", '-' => "minus", _ => "times" };
        return $"what is {Words(a)} {sign} {Words(b)}";
    }

    /// <summary>A number below a million in words.</summary>
    public static string Words(int n) => n switch
    {
        < 0 => "minus " + Words(-n),
        < 20 => Ones[n],
        < 100 => Tens[n / 10] + (n % 10 > 0 ? " " + Ones[n % 10] : ""),
        < 1000 => Ones[n / 100] + " hundred" + (n % 100 > 0 ? " " + Words(n % 100) : ""),
        < 1_000_000 => Words(n / 1000) + " thousand" + (n % 1000 > 0 ? " " + Words(n % 1000) : ""),
        _ => throw new ArgumentOutOfRangeException(nameof(n), n, "a number below a million"),
    };
}
