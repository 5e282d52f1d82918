using System.Data;
using System.Globalization;

namespace Kernels.Tools;

/// <summary>
/// The calculator tool's work: an arithmetic expression of numbers, + - * /, parentheses and spaces, evaluated
/// by System.Data's expression engine (DataTable.Compute); the value in invariant digits (a whole number
/// without a fraction). Anything else is an error the model sees.
/// </summary>
public static class Calculator
{
    private const string Allowed = "0123456789+-*/() .";

    public static string Evaluate(string expression)
    {
        if (string.IsNullOrWhiteSpace(expression)) return "error: an empty expression";
        if (expression.FirstOrDefault(c => !Allowed.Contains(c)) is var bad and not '\0') return $"error: {bad} is not arithmetic";
        object value;
        try
        {
            using var table = new DataTable { Locale = CultureInfo.InvariantCulture };
            value = table.Compute(expression, null);
        }
        catch (Exception e) when (e is EvaluateException or SyntaxErrorException or OverflowException or DivideByZeroException)
        {
            return "error: " + (e is DivideByZeroException ? "division by zero" : "not an expression");
        }
        // Division by zero comes back as an infinity (or NaN), not an exception.
        if (value is double d && !double.IsFinite(d)) return "error: division by zero";
        if (value is double or float && Math.Abs(Convert.ToDouble(value, CultureInfo.InvariantCulture)) >= 1e18) return "error: the result is too large";
        var number = Convert.ToDecimal(value, CultureInfo.InvariantCulture);
        return number == decimal.Truncate(number) ? decimal.Truncate(number).ToString(CultureInfo.InvariantCulture)
            : number.ToString("0.######", CultureInfo.InvariantCulture);
    }
}
