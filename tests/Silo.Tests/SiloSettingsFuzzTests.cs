using System.Text.RegularExpressions;
using Microsoft.Extensions.Configuration;
using Silo.Options;
using Testing;

namespace Silo.Tests;

/// <summary>
/// Settings files mutated from a complete valid one go through what a silo does before it starts
/// (read the file, bind and check every section): each is accepted or stops the silo with one line
/// naming the key or the file, exit code 2, and never repeats a connection string.
/// </summary>
public sealed class SiloSettingsFuzzTests : IDisposable
{
    private const int Mutants = 1_000;
    private const string Secret = "AccountKey=c2VjcmV0LWtleS1zaG91bGQtbmV2ZXItYmUtbG9nZ2Vk";
    private const string Password = "pfx-password-never-printed";
    private readonly string directory = Directory.CreateTempSubdirectory("settings-fuzz-").FullName;

    public void Dispose() => Directory.Delete(directory, recursive: true);

    [Fact]
    public async Task Every_mutated_settings_file_starts_or_stops_the_silo_in_one_line_naming_the_key()
    {
        var certificate = Path.Combine(directory, "cluster.pfx");
        Silo.Tls.ClusterCertificate.Create(certificate, "fuzz", TimeSpan.FromDays(1), Password);
        var valid = $$"""
            {
              "Logging": { "LogLevel": { "Default": "Warning" } },
              "Clustering": { "Provider": "AzureTable", "ConnectionString": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;{{Secret}};TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;", "ClusterId": "c", "ServiceId": "s", "SiloPort": 11111, "GatewayPort": 30000 },
              "Silo": { "Name": "gen-1", "Roles": "generation,inference", "Devices": "gpu:0-7", "DeviceClass": "H800", "Datacenter": "dc1" },
              "Checkpoints": { "Provider": "Local", "Directory": "checkpoints", "ChunkBytes": 4194304 },
              "Dashboard": { "Enabled": false, "Port": 8080 },
              "Tls": { "Mode": "Auto", "Certificate": "{{certificate}}", "Password": "{{Password}}" }
            }
            """;
        var path = Path.Combine(directory, "appsettings.json");
        var named = new Regex($"^configuration error: (('[^']*'|[A-Za-z]+(:[A-Za-z]+)*): |{Regex.Escape(path)}(:\\d+)?: not valid JSON)");
        var (accepted, refused) = (0, 0);

        foreach (var mutant in new Mutations(seed: 31).Of(valid, Mutants))
        {
            await File.WriteAllTextAsync(path, mutant);
            Exception? failure = null;
            await FuzzCheck.Outcome(mutant, () =>
            {
                try
                {
                    SiloSettings.Load(new ConfigurationBuilder().AddJsonFile(path).Build());
                }
                catch (Exception e)
                {
                    failure = e;
                }
            });
            if (failure is null)
            {
                accepted++;
                continue;
            }
            refused++;
            var (line, exitCode) = StartupErrors.Describe(failure);
            exitCode.Should().Be(2, $"bad settings exit with 2: {line} (input:\n{mutant})");
            line.Should().MatchRegex(named, $"the line names the key or the file (input:\n{mutant})")
                .And.NotContain("\n").And.NotContain("c2VjcmV0", "a connection string's key is never repeated");
            // A mutant that merged the password into the certificate's path made it a path, which is named.
            if (mutant.Contains($"\"Password\": \"{Password}\"")) line.Should().NotContain("never-printed", "a certificate's password is never repeated");
        }

        refused.Should().BeGreaterThan(Mutants / 2, $"most mutants are wrong ({accepted} accepted)");
    }
}
