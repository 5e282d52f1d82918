using System.Diagnostics;
using Microsoft.Extensions.Configuration;
using Silo.Options;

namespace Silo.Tests;

public sealed class ConfigurationTests
{
    private static SiloSettings Load(params (string Key, string Value)[] values) =>
        SiloSettings.Load(new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => KeyValuePair.Create(v.Key, (string?)v.Value))).Build());

    [Fact]
    public void Defaults_describe_one_local_silo_with_every_role()
    {
        var settings = Load();

        settings.Clustering.Provider.Should().Be(ClusteringProvider.Localhost);
        settings.Silo.Roles.Should().Be("generation,training,inference");
        settings.Silo.Devices.Should().Be("cpu");
        settings.Checkpoints.Provider.Should().Be(Grains.CheckpointProvider.Local);
    }

    [Theory]
    [InlineData("Clustering:Provider", "Zookeeper", "Clustering:Provider")]
    [InlineData("Clustering:Provider", "AzureTable", "Clustering:ConnectionString: required by the AzureTable provider")]
    [InlineData("Clustering:SiloPort", "70000", "Clustering:SiloPort: 70000 is not a TCP port")]
    [InlineData("Clustering:SiloPort", "abc", "Clustering:SiloPort")]
    [InlineData("Clustering:GatewayPort", "11111", "Clustering:GatewayPort: must differ from Clustering:SiloPort")]
    [InlineData("Clustering:ClusterId", " ", "Clustering:ClusterId: must not be empty")]
    [InlineData("Clustering:Colour", "blue", "Colour")]
    [InlineData("Clusterng:Provider", "AzureTable", "'Clusterng': not a section; did you mean Clustering?")]
    [InlineData("checkpoint:Directory", "x", "'checkpoint': not a section; did you mean Checkpoints?")]
    [InlineData("Sil:Roles", "training", "'Sil': not a section; did you mean Silo?")]
    [InlineData("Silo:Roles", "generation,cooking", "Silo:Roles: 'cooking' is not a role")]
    [InlineData("Silo:Devices", "gpu:7-0", "Silo:Devices: 'gpu:7-0': the range '7-0' runs backwards")]
    [InlineData("Silo:Devices", "gpu:0,0", "Silo:Devices: device gpu:0 is listed twice")]
    [InlineData("Silo:Devices", "gpu:0-2147483647", "Silo:Devices: 'gpu:0-2147483647': more than 65,536 devices on one silo")]
    [InlineData("Silo:Devices", "gpu:5-2147483647", "Silo:Devices: 'gpu:5-2147483647': more than 65,536 devices on one silo")]
    [InlineData("Silo:Datacenter", "", "Silo:Datacenter: must not be empty")]
    [InlineData("Silo:TensorThreads", "0", "Silo:TensorThreads: 0 must be at least 1")]
    [InlineData("Silo:TensorThreads", "two", "Silo:TensorThreads")]
    [InlineData("Checkpoints:Provider", "AzureBlob", "Checkpoints:ConnectionString: required by the AzureBlob provider")]
    [InlineData("Checkpoints:ChunkBytes", "10", "Checkpoints:ChunkBytes: 10 must be between 64 KiB and 100 MiB")]
    [InlineData("Dashboard:Port", "0", "Dashboard:Port: 0 is not a TCP port")]
    public void A_bad_value_is_named_by_its_key(string key, string value, string expected)
    {
        var values = new List<(string, string)> { (key, value) };
        if (key == "Dashboard:Port") values.Add(("Dashboard:Enabled", "true"));

        var act = () => Load([.. values]);

        act.Should().Throw<ConfigurationException>().Which.Message.Should().Contain(expected);
    }

    [Fact]
    public void A_bad_container_name_is_refused()
    {
        var act = () => Load(("Checkpoints:Provider", "AzureBlob"), ("Checkpoints:ConnectionString", "UseDevelopmentStorage=true"), ("Checkpoints:Container", "Bad_Name"));

        act.Should().Throw<ConfigurationException>().WithMessage("Checkpoints:Container: 'Bad_Name' is not a valid blob container name*");
    }

    [Fact]
    public void Device_lists_expand_ranges_and_kinds()
    {
        Grains.Interfaces.Cluster.DeviceSpec.Parse("gpu:0-2,5; cpu").Should().Equal("gpu:0", "gpu:1", "gpu:2", "gpu:5", "cpu:0");
    }

    [Fact]
    public async Task The_silo_process_stops_with_one_line_naming_the_key_and_a_non_zero_exit_code()
    {
        var silo = Path.Combine(AppContext.BaseDirectory, "Silo.dll");
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in new[] { silo, "--Clustering:SiloPort", "0" }) start.ArgumentList.Add(arg);

        using var process = Process.Start(start)!;
        var error = await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();

        process.ExitCode.Should().Be(2);
        error.Trim().Should().Be("configuration error: Clustering:SiloPort: 0 is not a TCP port (1-65535)");
    }

    [Fact]
    public async Task A_malformed_connection_string_a_port_in_use_and_a_broken_settings_file_stop_the_silo_in_one_line()
    {
        using var busy = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        busy.Start();
        var port = ((System.Net.IPEndPoint)busy.LocalEndpoint).Port;
        var directory = Directory.CreateTempSubdirectory("actors-settings-").FullName;
        // A copy of the silo beside a cut-short appsettings.json.
        foreach (var file in Directory.GetFiles(AppContext.BaseDirectory)) File.Copy(file, Path.Combine(directory, Path.GetFileName(file)));
        await File.WriteAllTextAsync(Path.Combine(directory, "appsettings.json"), "{ \"Clustering\": { \"Provider\": ");
        try
        {
            (await RunSilo(AppContext.BaseDirectory, "--Clustering:Provider", "AzureTable", "--Clustering:ConnectionString", "secret-garbage"))
                .Should().Be((2, "configuration error: Clustering:ConnectionString: not an Azure Storage connection string (AccountName=...;AccountKey=...;TableEndpoint=..., or UseDevelopmentStorage=true)"));
            (await RunSilo(AppContext.BaseDirectory, "--Clustering:SiloPort", port.ToString(), "--Clustering:PrimarySiloPort", port.ToString(), "--Clustering:GatewayPort", (port == 65535 ? 65534 : port + 1).ToString()))
                .Should().Be((2, $"configuration error: Clustering:SiloPort: port {port} is in use on 127.0.0.1"));
            var (exit, broken) = await RunSilo(directory);
            exit.Should().Be(2);
            broken.Should().StartWith("configuration error: ").And.Contain("appsettings.json").And.NotContain("   at ");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [Fact]
    public async Task A_silo_whose_membership_store_cannot_be_reached_ends_with_one_line_instead_of_crashing()
    {
        using var closed = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        var port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop();

        var (exit, error) = await RunSilo(AppContext.BaseDirectory, "--Clustering:Provider", "Redis", "--Clustering:ConnectionString", $"127.0.0.1:{port}", "--Tls:Mode", "Off",
            "--Clustering:SiloPort", Free().ToString(), "--Clustering:GatewayPort", Free().ToString());

        exit.Should().Be(1);
        error.Split('\n')[^1].Should().StartWith("the silo could not start: ").And.Contain("redis");
    }

    private static int Free()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task<(int Exit, string Error)> RunSilo(string directory, params string[] args)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        start.ArgumentList.Add(Path.Combine(directory, "Silo.dll"));
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        await process.StandardOutput.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, (await error).Trim());
    }
}
