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
    [InlineData("bench --policies async-1,async-1 infra/workloads/grpo-7b-32xh800-reasoning.json", "--policies: 'async-1' is named twice")]
    [InlineData("cluster --clustering AzureTable --connection UseDevelopmentStorage=true",
        "--certificate is required with --clustering AzureTable: the cluster's silos talk over TLS (--tls Off for a cluster that does not)")]
    [InlineData("cluster --clustering Redis --connection 127.0.0.1:1 --certificate no/such.pfx", "--certificate: no file 'no/such.pfx'")]
    [InlineData("status some-job --connect-timeout 0", "--connect-timeout must be 1..3600 seconds, not 0")]
    [InlineData("tls create x.pfx --days 0", "--days must be from 1 to 3650 (got 0)")]
    [InlineData("chaos infra/workloads/grpo-7b-256xh800-chat.json --soak 0", "--soak must be at least 1 minute and --kill-every at least 10 seconds (got 0, 120)")]
    [InlineData("chaos --kill-at 9", "--kill-at must be from 1 to 5 (the job has 6 iterations)")]
    [InlineData("merge jobs/a/weights/actor-000001.safetensors --out models/m.safetensors", "<models>: two or more to merge, not 1")]
    [InlineData("merge a.safetensors b.safetensors --weights 0.5,x --out m.safetensors", "--weights: '0.5,x' is not a comma-separated list of numbers")]
    [InlineData("dataset pairs", "pairs: --job names the RL job whose samples make the pairs")]
    [InlineData("dataset arithmetic --job a", "--job is for pairs, not arithmetic")]
    [InlineData("dataset runlength --demonstrate calc", "--demonstrate: calc for arithmetic or search for lookup, not calc for runlength")]
    [InlineData("dataset lookup --demonstrate calc", "--demonstrate: calc for arithmetic or search for lookup, not calc for lookup")]
    [InlineData("dataset lookup --demonstrated 5", "--demonstrated goes with --demonstrate")]
    [InlineData("dataset arithmetic --documents d.jsonl", "--documents is for lookup, not arithmetic")]
    [InlineData("watch some-job --prometheus-port 70000", "--prometheus-port: 70000 is not a port (1-65535)")]
    [InlineData("size infra/workloads/grpo-7b-h800-target-reasoning32k.json --targets 5,x", "--targets: '5,x' is not a comma-separated list of positive samples a second")]
    [InlineData("size infra/workloads/grpo-7b-128xh800-reasoning32k.json", "no rl.pools.samplesPerSecond; give --targets")]
    [InlineData("bench infra/workloads/grpo-7b-32xh800-reasoning.json --json", "--json: needs a value")]
    public async Task A_misspelt_option_or_value_is_an_error_naming_it(string arguments, string error)
    {
        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), arguments.Split(' '),
            RepositoryPaths.Root, TimeSpan.FromMinutes(2));

        exit.Should().NotBe(0);
        // The terminal library wraps long lines when the output is not a terminal.
        Text.RegularExpressions.Regex.Replace(output, @"\s+", " ").Should().Contain(error);
    }

    [Theory]
    [InlineData("status")]
    [InlineData("cancel")]
    public async Task With_no_cluster_a_command_says_where_it_looked_in_one_line_and_fails(string command)
    {
        var port = ChildProcess.FreePort().ToString();

        var (exit, standardOutput, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
            [command, "some-job", "--gateway-port", port, "--connect-timeout", "3"], RepositoryPaths.Root, TimeSpan.FromMinutes(2));

        exit.Should().Be(1);
        output.Trim().Should().Be($"error: cannot reach cluster 'actors' at localhost gateway port {port} within 3 s (no gateway answered)", "one line, no stack trace");
        standardOutput.Should().BeEmpty("errors go to standard error");
    }

    [Fact]
    public async Task Size_prints_the_pools_each_target_needs_and_why_one_is_out_of_reach()
    {
        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
            ["size", "infra/workloads/grpo-7b-h20-h800-target-reasoning32k.json", "--targets", "5,1000"], RepositoryPaths.Root, TimeSpan.FromMinutes(5));

        exit.Should().Be(0, output);
        var text = Text.RegularExpressions.Regex.Replace(output, @"\s+", " ");
        // 5 samples/s: the pools the README's "At one throughput target" table ran with (19 workers, 11 replicas beside 16 scoring H800s).
        text.Should().Contain("│ 5 │ 19 │ 11 │ 19 H20 + 27 H800 │ 35.5 │");
        text.Should().Contain("rl.pools.samplesPerSecond: 1000 samples a second is a step every 1.0 s for 1,024 samples, and 64 training replicas alone take");
    }

    [Fact]
    public async Task Dataset_lookup_writes_questions_the_first_demonstrated_and_the_catalog_the_search_tool_indexes()
    {
        var folder = Directory.CreateTempSubdirectory("lookup-dataset").FullName;
        var (questions, documents) = (Path.Combine(folder, "q.jsonl"), Path.Combine(folder, "d.jsonl"));

        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
            ["dataset", "lookup", "--count", "5", "--demonstrate", "search", "--demonstrated", "2", "--documents", documents, "--output", questions], RepositoryPaths.Root, TimeSpan.FromMinutes(2));

        exit.Should().Be(0, output);
        var task = new Kernels.Tasks.LookupTask();
        var written = Kernels.Tasks.TaskDataset.ReadFile(questions);
        written.Select(e => (e.Prompt, e.Answer)).Should().Equal(Kernels.Tasks.TaskDataset.Generate(task, 5, 1).Select(e => (e.Prompt, e.Answer)));
        written.Take(2).Should().OnlyContain(e => e.Demonstration == task.Demonstration(e));
        written.Skip(2).Should().OnlyContain(e => e.Demonstration == null, "only the first --demonstrated get one");
        Kernels.Tools.DocumentSearch.ReadDocuments(documents).Should().Equal(task.Documents());
        Directory.Delete(folder, recursive: true);
    }
}
