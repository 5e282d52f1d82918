using System.Text.RegularExpressions;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Testing;

namespace Grains.Tests.Fuzz;

/// <summary>
/// Job files mutated from the shipped ones go through what a submit does before a job runs: the
/// client's parse and validation, and the job grain's check of an emulated job's names. Each is
/// accepted or refused in one line that names the file and the field or place.
/// </summary>
public sealed partial class JobFileFuzzTests
{
    private const int MutantsPerFile = 100;

    public static TheoryData<string> Files => [.. new[] { "infra/jobs", "infra/workloads" }
        .SelectMany(d => Directory.GetFiles(Path.Combine(RepositoryPaths.Root, d), "*.json"))
        .Select(f => Path.GetRelativePath(RepositoryPaths.Root, f)).Order()];

    [Fact]
    public void Fuzzes_at_least_a_thousand_job_files() => (Files.Count * MutantsPerFile).Should().BeGreaterThanOrEqualTo(1_000);

    [Theory]
    [MemberData(nameof(Files))]
    public async Task Every_mutated_job_file_is_accepted_or_refused_in_one_line_naming_the_field(string file)
    {
        var valid = await File.ReadAllTextAsync(Path.Combine(RepositoryPaths.Root, file));
        var (accepted, refused) = (0, 0);
        foreach (var mutant in new Mutations(seed: file.Length).Of(valid, MutantsPerFile))
        {
            var error = await FuzzCheck.Outcome(mutant, () => Submitted(mutant), typeof(ArgumentException));
            if (error is null)
            {
                accepted++;
                continue;
            }
            refused++;
            error.Should().MatchRegex(Named(), "the error names the file and the field or place");
        }
        refused.Should().BeGreaterThan(MutantsPerFile / 2, $"most mutants of {file} are wrong ({accepted} accepted)");
    }

    /// <summary>The checks a job file gets before anything runs: the client's, then the job grain's.</summary>
    private static void Submitted(string json)
    {
        var spec = JobSpec.FromJson(json, "job.json");
        if (spec.Rl is { Emulated: true }) _ = new EmulatedJob(spec);
    }

    // "job.json: rl.miniBatches: ..." (validation), "job.json:8: rl.miniBatches: ..." or "job.json:8: 'x' is not a field of rl"
    // (reading), "rl.emulation.actor: ..." (the grain's check).
    [GeneratedRegex(@"^(job\.json(:\d+)?: ([a-zA-Z]+[a-zA-Z.\[\]0-9]*: |the file: |not valid JSON|'.*is not a field of|the file is empty)|rl\.[a-zA-Z.]+: )")]
    private static partial Regex Named();
}
