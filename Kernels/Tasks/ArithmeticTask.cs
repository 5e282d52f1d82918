namespace Kernels.Tasks;

/// <summary>
/// Multi-digit arithmetic on operands of up to <c>digits</c> digits with the given operations ('+', '-'):
/// "48+37=" -> "85", "40-97=" -> "-57". Exact-match reward: 1 for the right number written the
/// standard way, else 0.
/// </summary>
public sealed class ArithmeticTask(int digits = 2, string operations = "+") : IVerifiableTask
{
    public string Name => "arithmetic";
    public int Digits { get; } = digits is >= 1 and <= 9 ? digits : throw new ArgumentOutOfRangeException(nameof(digits), digits, "digits must be between 1 and 9");
    public string Operations { get; } = operations.Length > 0 && operations.All(c => c is '+' or '-') && operations.Distinct().Count() == operations.Length
        ? operations : throw new ArgumentException($"operations '{operations}' must be a non-empty set of '+' and '-'", nameof(operations));
    public int MaxResponseTokens => Digits + 3;

    public TaskExample Generate(Random random)
    {
        var limit = (int)Math.Pow(10, Digits);
        var (a, b) = (random.Next(limit), random.Next(limit));
        var add = Operations[random.Next(Operations.Length)] == '+';
        return new TaskExample($"{a}{(add ? '+' : '-')}{b}=", (add ? a + b : a - b).ToString());
    }

    public double Reward(TaskExample example, string response) => response == example.Answer ? 1.0 : 0.0;
}
