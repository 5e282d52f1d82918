using Kernels.Tools;

namespace Kernels.Tests;

public sealed class ToolTests
{
    [Theory]
    [InlineData("12+34", "46")]
    [InlineData("(2+3)*4", "20")]
    [InlineData("7/2", "3.5")]
    [InlineData("100-250", "-150")]
    [InlineData(" 6 * 7 ", "42")]
    [InlineData("1/0", "error: division by zero")]
    [InlineData("2+", "error: not an expression")]
    [InlineData("2^3", "error: ^ is not arithmetic")]
    [InlineData("len(x)", "error: l is not arithmetic")]
    [InlineData("", "error: an empty expression")]
    public void The_calculator_answers_arithmetic_and_names_what_it_cannot(string expression, string expected) =>
        Calculator.Evaluate(expression).Should().Be(expected);

    [Theory]
    [InlineData("the sum is [calc 12+34]", "calc", "12+34")]
    [InlineData("[search item 4711]", "search", "item 4711")]
    [InlineData("a [b] then [calc 1]", "calc", "1")]
    [InlineData("[calc]", "calc", "")]
    public void A_call_is_the_tool_and_argument_between_the_last_brackets(string response, string tool, string argument) =>
        ToolSyntax.Parse(response).Should().Be((new ToolCall(tool, argument), (string?)null));

    [Theory]
    [InlineData("12+34]", "error: a call begins with [")]
    [InlineData("[ 12+34]", "error: a call names its tool")]
    [InlineData("[Calc 1]", "error: Calc is not a tool name")]
    [InlineData("[calc 1", "error: a call ends with ]")]
    public void A_malformed_call_is_an_error_the_model_sees(string response, string error) =>
        ToolSyntax.Parse(response).Should().Be(((ToolCall?)null, error));
}
