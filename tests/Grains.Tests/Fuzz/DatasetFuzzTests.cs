using System.Text.RegularExpressions;
using Grains.Data;
using Grains.Interfaces.Jobs;
using Grains.Models;
using Kernels.Tasks;
using Testing;

namespace Grains.Tests.Fuzz;

/// <summary>
/// Dataset files mutated from a valid one go through what a job does with its dataset before its first
/// step (read, encode, fit the model's positions): each is accepted or refused in one line naming the
/// file and the line.
/// </summary>
public sealed class DatasetFuzzTests : IDisposable
{
    private const int Mutants = 1_000;
    private readonly string directory = Directory.CreateTempSubdirectory("dataset-fuzz-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Every_mutated_dataset_is_accepted_or_refused_in_one_line_naming_the_line()
    {
        var writer = new StringWriter();
        TaskDataset.Write(writer, TaskDataset.Generate(new ArithmeticTask(), 12, seed: 3));
        var valid = writer.ToString();
        var path = Path.Combine(directory, "train.jsonl");
        var named = new Regex($"^{Regex.Escape(path)}(:\\d+: |: no examples)");
        var (accepted, refused) = (0, 0);

        foreach (var mutant in new Mutations(seed: 17).Of(valid, Mutants))
        {
            await File.WriteAllTextAsync(path, mutant);
            var error = await FuzzCheck.Outcome(mutant, () => Read(path), typeof(InvalidDataException));
            if (error is null) accepted++;
            else
            {
                refused++;
                error.Should().MatchRegex(named, "the error names the file and its line");
            }
        }

        refused.Should().BeGreaterThan(Mutants / 2, $"most mutants are wrong ({accepted} accepted)");
    }

    private static void Read(string path)
    {
        var job = new JobSpec { Name = "fuzz", Kind = JobKind.Rl, Rl = new RlSpec { Dataset = path, HeldOutExamples = 4 } };
        _ = new RlData(job, new TaskEncoding(ModelCatalog.Tokenizer(RlSpec.DemoModel)), ModelCatalog.Config(RlSpec.DemoModel).MaxPositions);
    }
}
