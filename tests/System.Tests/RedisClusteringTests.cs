using System.Text.Json;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Smoke;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;
using Testing;

namespace System.Tests;

/// <summary>Redis membership: two silo processes find each other through a real redis-server; the CLI and a client see and use them.</summary>
public sealed class RedisClusteringTests : IDisposable
{
    private readonly string workDirectory = Directory.CreateTempSubdirectory("actors-redis-").FullName;
    private readonly List<ChildProcess> silos = [];
    private RedisServer? redis;

    [Fact]
    public async Task Silos_join_through_Redis_and_serve_work()
    {
        redis = await RedisServer.StartAsync();
        var certificate = await ClusterTls.CreateCertificateAsync(workDirectory);
        const string clusterId = "redis-test";
        foreach (var (name, role) in new[] { ("redis-gen", SiloRoles.Generation), ("redis-train", SiloRoles.Training) })
        {
            silos.Add(new ChildProcess(RepositoryPaths.BuiltAssembly("Silo", "Silo.dll"),
            [
                "--Clustering:Provider", "Redis", "--Clustering:ConnectionString", redis.ConnectionString,
                "--Clustering:ClusterId", clusterId, "--Clustering:ServiceId", clusterId,
                "--Clustering:SiloPort", ChildProcess.FreePort().ToString(), "--Clustering:GatewayPort", ChildProcess.FreePort().ToString(),
                "--Silo:Name", name, "--Silo:Roles", role, "--Silo:Devices", "gpu:0-1", "--Checkpoints:Directory", Path.Combine(workDirectory, name),
                "--Tls:Certificate", certificate,
            ], workDirectory));
        }

        var deadline = DateTime.UtcNow.AddSeconds(60);
        List<SiloInfo> listed;
        while (true)
        {
            var (exit, json, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"),
                ["cluster", "--clustering", "Redis", "--connection", redis.ConnectionString, "--cluster-id", clusterId, "--certificate", certificate, "--json"], workDirectory, TimeSpan.FromSeconds(60));
            listed = exit == 0 ? JsonSerializer.Deserialize<List<SiloInfo>>(json, new JsonSerializerOptions(JsonSerializerDefaults.Web))! : [];
            if (listed.Count(s => s.Status == "Active") == 2) break;
            DateTime.UtcNow.Should().BeBefore(deadline, $"both silos should join; the CLI said (exit {exit}):\n{output}\n{string.Join("\n", silos.Select(s => s.Output))}");
            await Task.Delay(1000);
        }
        listed.Select(s => s.Name).Should().BeEquivalentTo(["redis-gen", "redis-train"]);

        var builder = Host.CreateApplicationBuilder();
        builder.UseOrleansClient(c => c.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clusterId, clusterId)).UseRedisClustering(redis.ConnectionString).UseClusterTls(certificate));
        using var client = builder.Build();
        await client.StartAsync();
        var report = await client.Services.GetRequiredService<IClusterClient>().GetGrain<ISmokeGrain>("redis").Run(new SmokeRequest(3, 1));
        report.Silo.Should().Be(listed.Single(s => s.Name == "redis-train").Address);
        await client.StopAsync();

        // A researcher's round trip through the CLI: submit a job file, watch it to the end, ask its status.
        string[] cluster = ["--clustering", "Redis", "--connection", redis.ConnectionString, "--cluster-id", clusterId, "--certificate", certificate, "--connect-timeout", "90"];
        var actors = RepositoryPaths.BuiltAssembly("Client", "actors.dll");
        var timeout = TimeSpan.FromSeconds(120);
        var submit = await ChildProcess.RunAsync(actors, ["submit", Path.Combine(RepositoryPaths.Root, "infra", "jobs", "smoke.json"), .. cluster], workDirectory, timeout);
        submit.ExitCode.Should().Be(0, submit.Output);
        var watch = await ChildProcess.RunAsync(actors, ["watch", "smoke", .. cluster], workDirectory, timeout);
        watch.ExitCode.Should().Be(0, watch.Output);
        var status = await ChildProcess.RunAsync(actors, ["status", "smoke", .. cluster], workDirectory, timeout);
        status.StandardOutput.Should().Contain("Completed").And.Contain("5/5");
    }

    public void Dispose()
    {
        foreach (var silo in silos) silo.Dispose();
        redis?.Dispose();
        Directory.Delete(workDirectory, recursive: true);
    }
}
