using System.ComponentModel;
using Client.Docs;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Writes the job-file and silo-settings references from the settings classes (<see cref="ReferenceDocs"/>).</summary>
public sealed class ReferenceCommand : AsyncCommand<ReferenceCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--out")]
        [Description("The folder to write them to.")]
        [DefaultValue("docs/reference")]
        public string Out { get; init; } = "docs/reference";
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(settings.Out);
        await File.WriteAllTextAsync(Path.Combine(settings.Out, ReferenceDocs.JobFileName), ReferenceDocs.JobFile(), cancellationToken);
        await File.WriteAllTextAsync(Path.Combine(settings.Out, ReferenceDocs.SiloSettingsName), ReferenceDocs.SiloSettings(), cancellationToken);
        AnsiConsole.MarkupLineInterpolated($"[green]wrote {ReferenceDocs.JobFileName} and {ReferenceDocs.SiloSettingsName} in {settings.Out}[/]");
        return 0;
    }
}
