using System.ComponentModel;
using Silo.Tls;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Makes a self-signed cluster certificate for a local or test cluster: every silo (Tls:Certificate) and
/// client (--certificate) of the cluster is given the same file, and trusts only those that show it.
/// </summary>
public sealed class TlsCreateCommand : Command<TlsCreateCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<path>")]
        [Description("Where to write the PKCS#12 (.pfx) file; it is readable by its owner only.")]
        public string Path { get; init; } = "";

        [CommandOption("--name")]
        [Description("The certificate's subject and DNS name.")]
        [DefaultValue("actors-cluster")]
        public string Name { get; init; } = "actors-cluster";

        [CommandOption("--days")]
        [Description("How long it is valid.")]
        [DefaultValue(365)]
        public int Days { get; init; } = 365;

        [CommandOption("--keep")]
        [Description("Leave an existing file as it is (for set-up scripts that run again).")]
        public bool Keep { get; init; }

        public override Spectre.Console.ValidationResult Validate() =>
            string.IsNullOrWhiteSpace(Path) ? Spectre.Console.ValidationResult.Error("<path> must name a file")
            : Days is < 1 or > 3650 ? Spectre.Console.ValidationResult.Error($"--days must be from 1 to 3650 (got {Days})")
            : Name.Length is 0 or > 64 || !Name.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.') ? Spectre.Console.ValidationResult.Error("--name must be a DNS name of at most 64 letters, digits, '-' and '.'")
            : Spectre.Console.ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Keep && File.Exists(settings.Path))
        {
            Console.WriteLine($"{settings.Path}: kept");
            return 0;
        }
        var certificate = ClusterCertificate.Create(settings.Path, settings.Name, TimeSpan.FromDays(settings.Days), Environment.GetEnvironmentVariable(ClusterSettings.PasswordVariable));
        Console.WriteLine($"{settings.Path}: CN={settings.Name}, valid until {certificate.NotAfter:yyyy-MM-dd}, thumbprint {certificate.Thumbprint}");
        return 0;
    }
}
