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
    [InlineData("Clusterng:Provider", "AzureTable", "Clusterng: not a section; did you mean Clustering?")]
    [InlineData("checkpoint:Directory", "x", "checkpoint: not a section; did you mean Checkpoints?")]
    [InlineData("Sil:Roles", "training", "Sil: not a section; did you mean Silo?")]
    [InlineData("Silo:Roles", "generation,cooking", "Silo:Roles: 'cooking' is not a role")]
    [InlineData("Silo:Devices", "gpu:7-0", "Silo:Devices: 'gpu:7-0': the range '7-0' runs backwards")]
    [InlineData("Silo:Devices", "gpu:0,0", "Silo:Devices: device gpu:0 is listed twice")]
    [InlineData("Silo:Devices", "gpu:0-2147483647", "Silo:Devices: 'gpu:0-2147483647': more than 65,536 devices on one silo")]
    [InlineData("Silo:Devices", "gpu:5-2147483647", "Silo:Devices: 'gpu:5-2147483647': more than 65,536 devices on one silo")]
    [InlineData("Silo:Datacenter", "", "Silo:Datacenter: must not be empty")]
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
}
