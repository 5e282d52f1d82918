using System.Text.Json;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Testing;
using Xunit.Abstractions;

namespace System.Tests;

/// <summary>
/// The same small PPO job twice, through the CLI: on one in-process silo (`actors run`), and on
/// Azurite with separate generation, training and inference silo processes (`actors submit` and
/// `watch`). The same seeds must give the same results.
/// </summary>
public sealed class MultiProcessRlTests(ITestOutputHelper log) : IAsyncLifetime
{
    private static readonly TimeSpan Patience = TimeSpan.FromMinutes(5);
    private readonly string clusterId = $"rl-{Guid.NewGuid():N}"[..16];
    private readonly string workDirectory = Directory.CreateTempSubdirectory("actors-system-rl-").FullName;
    private readonly List<ChildProcess> silos = [];
    private Azurite? azurite;
    private string? certificate;

    private const string Job = """
        {
          "name": "multi-process-ppo", "kind": "rl", "iterations": 3, "seed": 5,
          "rl": {
            "algorithm": "ppo", "trainExamples": 64, "heldOutExamples": 16, "sftSteps": 30, "sftBatchSize": 16,
            "promptsPerIteration": 8, "samplesPerPrompt": 2, "miniBatches": 2, "actorLearningRate": 1e-3,
            "generationWorkers": 2, "evalEvery": 1, "checkpointEvery": 0, "maxBatch": 4, "temperature": 1.0
          }
        }
        """;

    public async Task InitializeAsync()
    {
        azurite = await Azurite.StartAsync();
        certificate = await ClusterTls.CreateCertificateAsync(workDirectory);
    }

    [Fact]
    public async Task A_job_on_generation_training_and_inference_processes_matches_the_same_job_on_one_silo()
    {
        await RunOnOneSilo();
        var cluster = await SubmitToCluster(("gen", SiloRoles.Generation, "gpu:0-1"), ("train", SiloRoles.Training, "gpu:0-1"), ("infer", SiloRoles.Inference, "cpu"));
        var watched = await ChildProcess.RunAsync(Actors, ["watch", "multi-process-ppo", "--metrics", "cluster.jsonl", .. cluster], workDirectory, Patience);
        watched.ExitCode.Should().Be(0, watched.Output + SiloLogs());
        log.WriteLine(watched.Output);

        var (one, many) = (Read("local.jsonl"), Read("cluster.jsonl"));
        many.Select(m => m.Iteration).Should().Equal([0, 1, 2, 3]);
        for (var i = 0; i < one.Length; i++)
        {
            many[i].HeldOutAccuracy.Should().Be(one[i].HeldOutAccuracy, $"iteration {i}");
            many[i].RewardMean.Should().BeApproximately(one[i].RewardMean, 1e-4, $"iteration {i}");
            many[i].PolicyLoss.Should().BeApproximately(one[i].PolicyLoss, 1e-4, $"iteration {i}");
            (many[i].ValueLoss ?? 0).Should().BeApproximately(one[i].ValueLoss ?? 0, 1e-4, $"iteration {i}");
            many[i].Kl.Should().BeApproximately(one[i].Kl, 1e-4, $"iteration {i}");
        }
        // Each device grain ran on its role's process: two generation workers, the actor and the critic.
        many[3].DeviceBusy.Keys.Should().BeEquivalentTo(["multi-process-ppo/g0", "multi-process-ppo/g1", "multi-process-ppo/actor/0", "multi-process-ppo/critic/0"]);
    }

    [Fact]
    public async Task A_generation_silo_process_killed_mid_run_the_job_goes_on_and_matches_the_job_on_one_silo()
    {
        await RunOnOneSilo();
        var cluster = await SubmitToCluster(("gen-a", SiloRoles.Generation, "gpu:0-1"), ("gen-b", SiloRoles.Generation, "gpu:0-1"),
            ("train", SiloRoles.Training, "gpu:0-1"), ("infer", SiloRoles.Inference, "cpu"));
        var victim = silos[0];
        using var watch = new ChildProcess(Actors, ["watch", "multi-process-ppo", "--metrics", "cluster.jsonl", .. cluster], workDirectory);
        var metricsFile = Path.Combine(workDirectory, "cluster.jsonl");
        for (var i = 0; i < 1200 && !(File.Exists(metricsFile) && File.ReadAllLines(metricsFile).Length >= 2); i++) await Task.Delay(100);
        // Each generation silo holds one of the two workers: SIGKILL one, in the job's second iteration.
        victim.Kill();

        (await watch.ExitsWithin(Patience)).Should().BeTrue(watch.Output + SiloLogs());
        log.WriteLine(watch.Output);
        watch.ExitCode.Should().Be(0, watch.Output + SiloLogs());
        var (one, many) = (Read("local.jsonl"), Read("cluster.jsonl"));
        many.Select(m => m.Iteration).Should().Equal([0, 1, 2, 3]);
        many.Skip(1).Should().OnlyContain(m => m.Ledger!.Lost == 0 && m.Ledger.Trained == 16);
        for (var i = 0; i < one.Length; i++)
        {
            many[i].HeldOutAccuracy.Should().Be(one[i].HeldOutAccuracy, $"iteration {i}");
            many[i].RewardMean.Should().BeApproximately(one[i].RewardMean, 1e-4, $"iteration {i}");
            many[i].PolicyLoss.Should().BeApproximately(one[i].PolicyLoss, 1e-4, $"iteration {i}");
        }
    }

    private static string Actors => RepositoryPaths.BuiltAssembly("Client", "actors.dll");

    private string JobFile => Path.Combine(workDirectory, "job.json");

    /// <summary>The job on a silo in the client's process (`actors run`): its metrics in local.jsonl.</summary>
    private async Task RunOnOneSilo()
    {
        await File.WriteAllTextAsync(JobFile, Job);
        var local = await ChildProcess.RunAsync(Actors, ["run", JobFile, "--metrics", "local.jsonl"], workDirectory, Patience);
        local.ExitCode.Should().Be(0, local.Output);
    }

    /// <summary>Starts these silo processes on Azurite, waits until every one is active, submits the job; returns the arguments that reach the cluster.</summary>
    private async Task<string[]> SubmitToCluster(params (string Name, string Role, string Devices)[] processes)
    {
        foreach (var (name, role, devices) in processes) StartSilo(name, role, devices);
        string[] cluster = ["--clustering", "AzureTable", "--connection", azurite!.ConnectionString, "--cluster-id", clusterId, "--certificate", certificate!, "--connect-timeout", "90"];
        await RetryUntilTheClusterAnswers(async () =>
        {
            var listed = await ChildProcess.RunAsync(Actors, ["cluster", "--json", .. cluster], workDirectory, Patience);
            return listed with { ExitCode = listed.ExitCode == 0 && listed.StandardOutput.Split("\"Active\"").Length == processes.Length + 1 ? 0 : 1 };
        });
        var submitted = await ChildProcess.RunAsync(Actors, ["submit", JobFile, .. cluster], workDirectory, Patience);
        submitted.ExitCode.Should().Be(0, submitted.Output + SiloLogs());
        return cluster;
    }

    private IterationMetrics[] Read(string file) => File.ReadAllLines(Path.Combine(workDirectory, file))
        .Select(l => JsonSerializer.Deserialize<IterationMetrics>(l, new JsonSerializerOptions(JsonSerializerDefaults.Web))!).ToArray();

    private async Task<(int ExitCode, string StandardOutput, string Output)> RetryUntilTheClusterAnswers(Func<Task<(int ExitCode, string StandardOutput, string Output)>> command)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var result = await command();
            if (result.ExitCode == 0) return result;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the cluster did not come up: {result.Output}{SiloLogs()}");
            await Task.Delay(1000); // no gateway yet, or a role's silo not yet joined
        }
    }

    private void StartSilo(string name, string role, string devices) =>
        silos.Add(SiloProcesses.StartOnAzurite(name, role, devices, azurite!.ConnectionString, clusterId, workDirectory, certificate!));

    private string SiloLogs() => "\n" + string.Join("\n", silos.Select(s => s.Output[^Math.Min(3000, s.Output.Length)..]));

    public async Task DisposeAsync()
    {
        foreach (var silo in silos) silo.Dispose();
        if (azurite is not null) await azurite.DisposeAsync();
        Directory.Delete(workDirectory, recursive: true);
    }
}
