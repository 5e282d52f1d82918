using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;
using Testing;

namespace System.Tests;

/// <summary>A test cluster's certificate, made as an admin makes it (`actors tls create`), and a test client that shows it.</summary>
public static class ClusterTls
{
    /// <summary>Runs `actors tls create` into <paramref name="directory"/>; the .pfx file's path.</summary>
    public static async Task<string> CreateCertificateAsync(string directory, string file = "cluster.pfx", IReadOnlyDictionary<string, string>? environment = null)
    {
        var path = Path.Combine(directory, file);
        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), ["tls", "create", path], directory, TimeSpan.FromMinutes(1), environment);
        if (exit != 0) throw new InvalidOperationException($"actors tls create failed ({exit}): {output}");
        return path;
    }

    /// <summary>
    /// Mutual TLS with the cluster's certificate, configured here by hand (not through the client's code):
    /// the silos must accept any client that follows Orleans' own TLS set-up with the right certificate.
    /// </summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder client, string certificatePath, string? password = null)
    {
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(certificatePath, password);
        return client.UseTls(certificate, o => o.RemoteCertificateValidation = (remote, _, _) => remote.Thumbprint == certificate.Thumbprint);
    }
}
