using Testing;
using Xunit.Abstractions;

namespace System.Tests;

/// <summary>
/// `actors chaos` as an admin runs it, on a small job: a real cluster of five silo processes, the training
/// silo holding the actor SIGKILLed mid-step; the job must finish with nothing lost and the final weights
/// of the run without a kill (the command's exit code says so; the table shows it).
/// </summary>
public sealed class ChaosTests(ITestOutputHelper log) : IDisposable
{
    private readonly string workDirectory = Directory.CreateTempSubdirectory("actors-chaos-test-").FullName;

    private const string Job = """
        {
          "name": "chaos-test", "kind": "rl", "iterations": 3, "seed": 5,
          "rl": {
            "algorithm": "ppo", "trainExamples": 64, "heldOutExamples": 16, "sftSteps": 20, "sftBatchSize": 16,
            "promptsPerIteration": 8, "samplesPerPrompt": 4, "miniBatches": 2, "actorLearningRate": 1e-3,
            "generationWorkers": 2, "evalEvery": 3, "checkpointEvery": 1, "maxBatch": 4, "temperature": 1.0
          }
        }
        """;

    [Fact]
    public async Task A_training_silo_killed_mid_step_the_job_finishes_with_the_weights_of_a_run_without_a_kill()
    {
        var file = Path.Combine(workDirectory, "job.json");
        await File.WriteAllTextAsync(file, Job);

        var (exit, output, all) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
            ["chaos", file, "--kills", "training", "--kill-at", "2", "--work", Path.Combine(workDirectory, "runs")], workDirectory, TimeSpan.FromMinutes(10));
        log.WriteLine(all);

        exit.Should().Be(0, all);
        var rows = output.Split('\n').Where(l => l.StartsWith("| none") || l.StartsWith("| training")).Select(l => l.Split('|').Select(c => c.Trim()).ToArray()).ToArray();
        rows.Should().HaveCount(2, output);
        rows[1][2].Should().StartWith("train-", "the victim is a training silo");
        rows[1][3].Should().Be("yes", "the job finished");
        rows[1][7].Should().Be("0", "no sample was lost");
        rows[1][11].Should().Be("yes (SHA-256)", "the final weights equal the run without a kill, bit for bit");
    }

    public void Dispose() => Directory.Delete(workDirectory, recursive: true);
}
