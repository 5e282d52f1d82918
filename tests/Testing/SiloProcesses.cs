namespace Testing;

/// <summary>
/// Silo processes of this system on loopback: Azure Table membership and Azure Blob checkpoints in one
/// Azurite, mutual TLS with the cluster's certificate (as across machines).
/// </summary>
public static class SiloProcesses
{
    public static ChildProcess StartOnAzurite(string name, string role, string devices, string connectionString, string clusterId, string workDirectory, string certificate,
        params string[] more) =>
        new(RepositoryPaths.BuiltAssembly("Silo", "Silo.dll"),
        [
            "--Clustering:Provider", "AzureTable", "--Clustering:ConnectionString", connectionString,
            "--Clustering:ClusterId", clusterId, "--Clustering:ServiceId", clusterId,
            "--Clustering:SiloPort", ChildProcess.FreePort().ToString(), "--Clustering:GatewayPort", ChildProcess.FreePort().ToString(),
            "--Silo:Name", name, "--Silo:Roles", role, "--Silo:Devices", devices,
            "--Checkpoints:Provider", "AzureBlob", "--Checkpoints:ConnectionString", connectionString,
            "--Tls:Certificate", certificate,
            .. more,
        ], workDirectory);
}
