using FluentAssertions;
using Testing;
using Xunit;

namespace System.Tests;

/// <summary>The actors command line refuses what it does not understand, before it starts anything.</summary>
public sealed class CommandLineTests
{
    [Theory]
    [InlineData("run --resum job.json", "Unknown option 'resum'")]
    [InlineData("bench --policies fastest infra/workloads/grpo-7b-32xh800-reasoning.json", "--policies: 'fastest' is not one of colocated-barrier, barrier, streaming, colocated-streaming")]
    public async Task A_misspelt_option_or_value_is_an_error_naming_it(string arguments, string error)
    {
        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), arguments.Split(' '),
            RepositoryPaths.Root, TimeSpan.FromMinutes(2));

        exit.Should().NotBe(0);
        // The terminal library wraps long lines when the output is not a terminal.
        Text.RegularExpressions.Regex.Replace(output, @"\s+", " ").Should().Contain(error);
    }
}
