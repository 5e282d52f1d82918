using System.Text.RegularExpressions;
using Kernels.Emulation;
using Testing;

namespace Kernels.Tests;

/// <summary>
/// Length histogram files ("length,count" lines, what an emulated job's lengths may name) mutated from a
/// valid one: each is refused in one line naming the file and the line, or accepted as a distribution
/// whose every quantile is a length it holds.
/// </summary>
public sealed class HistogramFuzzTests
{
    private const int Mutants = 1_000;

    [Fact]
    public async Task Every_mutated_histogram_is_refused_naming_the_line_or_gives_lengths_it_holds()
    {
        const string valid = "length,count\n16,5\n64,20\n256,40\n1024,25\n4096,9\n32768,1\n";
        var named = new Regex(@"^lengths\.csv(:\d+: |: no bins with a positive count$)");
        var (accepted, refused) = (0, 0);

        foreach (var mutant in new Mutations(seed: 23).Of(valid, Mutants))
        {
            EmpiricalLengths? read = null;
            var error = await FuzzCheck.Outcome(mutant, () => read = EmpiricalLengths.Read(new StringReader(mutant), "lengths.csv"), typeof(InvalidDataException));
            if (error is not null)
            {
                refused++;
                error.Should().MatchRegex(named, "the error names the file and its line");
                continue;
            }
            accepted++;
            var held = read!.Bins.Where(b => b.Count > 0).Select(b => b.Length).ToHashSet();
            foreach (var u in new[] { 0.0, 1e-9, 0.25, 0.5, 0.999, 1.0 })
            {
                held.Should().Contain(read.Quantile(u), $"quantile {u} of an accepted histogram is one of its lengths with a count (input:\n{mutant})");
            }
        }

        (accepted + refused).Should().Be(Mutants);
        refused.Should().BeGreaterThan(Mutants / 4, $"many mutants are wrong ({accepted} accepted)");
    }
}
