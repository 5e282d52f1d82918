using Testing;

namespace System.Tests;

public sealed class DashboardTests : IDisposable
{
    private readonly string workDirectory = Directory.CreateTempSubdirectory("actors-dashboard-").FullName;
    private ChildProcess? silo;

    [Fact]
    public async Task An_enabled_dashboard_is_served_on_its_loopback_port()
    {
        var (port, siloPort) = (ChildProcess.FreePort(), ChildProcess.FreePort());
        silo = new ChildProcess(RepositoryPaths.BuiltAssembly("Silo", "Silo.dll"),
        [
            "--Dashboard:Enabled", "true", "--Dashboard:Port", port.ToString(), "--Clustering:ClusterId", "dashboard-test",
            "--Clustering:SiloPort", siloPort.ToString(), "--Clustering:PrimarySiloPort", siloPort.ToString(),
            "--Clustering:GatewayPort", ChildProcess.FreePort().ToString(), "--Checkpoints:Directory", workDirectory,
        ], workDirectory);
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };

        // A silo on a busy machine may take a minute or more to start serving.
        string? page = null;
        for (var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3); page is null && DateTime.UtcNow < deadline;)
        {
            try
            {
                page = await http.GetStringAsync($"http://127.0.0.1:{port}/");
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                silo.HasExited.Should().BeFalse(silo.Output);
                await Task.Delay(500);
            }
        }

        page.Should().Contain("<title>Orleans Dashboard</title>", silo.Output);
    }

    public void Dispose()
    {
        silo?.Dispose();
        Directory.Delete(workDirectory, recursive: true);
    }
}
