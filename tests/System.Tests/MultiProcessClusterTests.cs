using System.Diagnostics;
using System.Text.Json;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Smoke;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Testing;
using Xunit.Abstractions;

namespace System.Tests;

/// <summary>
/// Azurite, three silo processes (generation, training, inference) with Azure Table membership on
/// loopback, the client CLI as a process, and this test as an Orleans client.
/// </summary>
public sealed class MultiProcessClusterTests(ITestOutputHelper log) : IAsyncLifetime
{
    // A silo's joining and its metadata reaching the others take seconds, a minute or more on a loaded machine.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(150);
    private readonly string clusterId = $"sys-{Guid.NewGuid():N}"[..16];
    private readonly string workDirectory = Directory.CreateTempSubdirectory("actors-system-").FullName;
    private readonly Dictionary<string, ChildProcess> silos = [];
    private Azurite? azurite;
    private IHost? client;
    private string? certificate;
    // Everything the CLI printed, searched for secrets at the end as the silos' own output is.
    private readonly List<string> printed = [];

    // The certificate's password: silos read it from Tls:Password, the CLI from its environment.
    private const string Password = "pfx-secret-not-for-logs";
    private static readonly Dictionary<string, string> CliEnvironment = new() { ["ACTORS_TLS_PASSWORD"] = Password };

    private IClusterClient Grains => client!.Services.GetRequiredService<IClusterClient>();

    public async Task InitializeAsync()
    {
        azurite = await Azurite.StartAsync();
        certificate = await ClusterTls.CreateCertificateAsync(workDirectory, environment: CliEnvironment);
    }

    [Fact]
    public async Task Device_grains_land_on_their_processes_and_a_killed_silo_is_replaced()
    {
        StartSilo("gen-1", SiloRoles.Generation, "gpu:0-1");
        StartSilo("train-1", SiloRoles.Training, "gpu:0");
        StartSilo("infer-1", SiloRoles.Inference, "cpu");
        client = await ConnectAsync();
        await WaitForActiveSilos("gen-1", "train-1", "infer-1");

        // The admin's view, from the CLI in its own process (through a gateway whose metadata cache may lag the
        // silos' joining by a moment: asked again until every silo is declared).
        List<(string, string, int)> listed = [];
        for (var deadline = DateTime.UtcNow + Patience; ;)
        {
            var (exit, json, output) = await Cli("cluster", "--json", "--certificate", certificate!);
            exit.Should().Be(0, output);
            listed = [.. JsonSerializer.Deserialize<List<SiloInfo>>(json, new JsonSerializerOptions(JsonSerializerDefaults.Web))!
                .Where(s => s.Status == "Active").Select(s => (s.Name, s.Roles, s.Devices.Count))];
            if (listed.All(s => s.Item2.Length > 0) || DateTime.UtcNow > deadline) break;
            await Task.Delay(1000);
        }
        listed.Should().BeEquivalentTo([("gen-1", "generation", 2), ("train-1", "training", 1), ("infer-1", "inference", 1)]);

        // A client without the cluster's certificate is refused: with none, and with another self-signed one.
        var plain = await Cli("cluster", "--json", "--tls", "Off");
        plain.ExitCode.Should().Be(1, "a client that does not speak TLS is refused: " + plain.Output);
        plain.Output.Should().Contain("cannot reach cluster");
        var stranger = await ClusterTls.CreateCertificateAsync(workDirectory, "stranger.pfx");
        var foreign = await Cli("cluster", "--json", "--certificate", stranger);
        foreign.ExitCode.Should().Be(1, "a client with another cluster's certificate is refused: " + foreign.Output);
        foreign.StandardOutput.Should().NotContain("gen-1");

        // Training work lands on the training process, on its device.
        var smoke = Grains.GetGrain<ISmokeGrain>("system");
        SmokeReport first;
        for (var deadline = DateTime.UtcNow + Patience; ;)
        {
            try
            {
                first = await smoke.Run(new SmokeRequest(Steps: 5, Seed: 1));
                break;
            }
            // The client lists a silo's roles as soon as membership has them; the silo that places the grain may
            // read them a moment later on a loaded machine, and until then refuses with this error, which says so.
            catch (NoSiloForRoleException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(1000);
            }
        }
        first.Silo.Should().Be(await AddressOf("train-1"));
        first.Device.Should().Be("gpu:0");
        var blob = new Azure.Storage.Blobs.BlobContainerClient(azurite!.ConnectionString, "checkpoints").GetBlobClient(first.CheckpointPath);
        (await blob.GetPropertiesAsync()).Value.Metadata["sha256"].Should().Be(first.CheckpointSha256, "the checkpoint went to Azure Blob storage");

        // SIGKILL the training silo: the others declare it dead and keep serving (how fast is the
        // membership settings' business and depends on the machine's load: logged, not asserted).
        var clock = Stopwatch.StartNew();
        silos["train-1"].Kill();
        await WaitForActiveSilos("gen-1", "infer-1");
        log.WriteLine($"killed silo left membership after {clock.Elapsed.TotalSeconds:F1} s");
        (await Grains.GetGrain<IClusterInfoGrain>(0).Silos()).Count(s => s.Status == "Active").Should().Be(2);

        // A new training silo joins and receives the work.
        StartSilo("train-2", SiloRoles.Training, "gpu:0");
        await WaitForActiveSilos("gen-1", "infer-1", "train-2");
        var second = await smoke.Run(new SmokeRequest(Steps: 5, Seed: 1));
        second.Silo.Should().Be(await AddressOf("train-2"));
        second.FinalLoss.Should().Be(first.FinalLoss, "the same seed gives the same run on any silo");

        // The membership store goes away, then the admin stops the silos: they stop anyway (the host
        // gives a stop SiloHosting.StopTimeout; the minute here only tells a bounded stop from a hang).
        client.Dispose();
        client = null;
        await azurite!.DisposeAsync();
        azurite = null;
        foreach (var silo in silos.Values) silo.Terminate();
        foreach (var (name, silo) in silos) (await silo.ExitsWithin(TimeSpan.FromMinutes(1))).Should().BeTrue($"{name} must stop though its membership store is gone\n{silo.Output[^Math.Min(2000, silo.Output.Length)..]}");

        // Secrets given to the silos and the CLI were never printed, whatever went on (kills, a lost store, refusals).
        foreach (var text in silos.Values.Select(s => s.Output).Concat(printed))
        {
            text.Should().NotContain(Azurite.Key[..24], "the storage account's key stays out of logs").And.NotContain(Password, "the certificate's password stays out of logs");
        }
    }

    private void StartSilo(string name, string role, string devices) =>
        silos[name] = SiloProcesses.StartOnAzurite(name, role, devices, azurite!.ConnectionString, clusterId, workDirectory, certificate!, "--Tls:Password", Password);

    /// <summary>The CLI against this cluster, its password in its environment; its output is kept for the secrets check.</summary>
    private async Task<(int ExitCode, string StandardOutput, string Output)> Cli(params string[] arguments)
    {
        var result = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
            [.. arguments, "--clustering", "AzureTable", "--connection", azurite!.ConnectionString, "--cluster-id", clusterId], workDirectory, Patience, CliEnvironment);
        printed.Add(result.Output);
        return result;
    }

    private async Task<IHost> ConnectAsync()
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            // A client that failed to start cannot be started again: each try gets a new one.
            var builder = Host.CreateApplicationBuilder();
            builder.UseOrleansClient(c => c
                .Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId))
                .UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(azurite!.ConnectionString))
                .UseClusterTls(certificate!, Password)
                .Services.AddLossExceptions());
            var host = builder.Build();
            try
            {
                await host.StartAsync();
                return host;
            }
            catch (Exception e)
            {
                host.Dispose();
                if (DateTime.UtcNow > deadline) throw new TimeoutException($"no gateway came up\n{SiloLogs()}", e);
                await Task.Delay(1000); // no gateway registered yet
            }
        }
    }

    private async Task WaitForActiveSilos(params string[] names)
    {
        var deadline = DateTime.UtcNow + Patience;
        while (true)
        {
            List<string> active;
            try
            {
                // Active and declared: a silo's metadata (its roles) reaches the others' caches a moment after it joins.
                active = (await Grains.GetGrain<IClusterInfoGrain>(0).Silos()).Where(s => s.Status == "Active" && s.Roles.Length > 0).Select(s => s.Name).ToList();
            }
            catch (Exception e) when (e is OrleansException or TimeoutException or OperationCanceledException)
            {
                // The gateway this client used may be the silo just killed: the next call goes through another.
                // Placing the info grain may also find its directory partition on that silo, and the lookup is
                // cancelled when the silo is declared dead (measured: a stressed CI run): asked again too.
                active = [];
            }
            if (active.Order().SequenceEqual(names.Order())) return;
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"active silos are [{string.Join(", ", active)}], expected [{string.Join(", ", names)}]\n{SiloLogs()}");
            }
            await Task.Delay(250);
        }
    }

    private string SiloLogs() => string.Join("\n", silos.Select(s => $"--- {s.Key}:\n{s.Value.Output[^Math.Min(3000, s.Value.Output.Length)..]}"));

    private async Task<string> AddressOf(string name) =>
        (await Grains.GetGrain<IClusterInfoGrain>(0).Silos()).Single(s => s.Name == name && s.Status == "Active").Address;

    public async Task DisposeAsync()
    {
        if (client is not null)
        {
            await client.StopAsync();
            client.Dispose();
        }
        foreach (var silo in silos.Values) silo.Dispose();
        if (azurite is not null) await azurite.DisposeAsync();
        Directory.Delete(workDirectory, recursive: true);
    }
}
