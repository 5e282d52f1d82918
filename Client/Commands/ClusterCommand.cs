using System.ComponentModel;
using System.Text.Json;
using Grains.Interfaces.Cluster;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Lists the cluster's silos: roles, devices, device class, datacenter, status, activations, device leases.</summary>
public sealed class ClusterCommand : AsyncCommand<ClusterCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandOption("--json")]
        [Description("Print the silos as JSON instead of a table.")]
        public bool Json { get; init; }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        var silos = await host.Cluster().GetGrain<IClusterInfoGrain>(0).Silos();
        if (settings.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(silos, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
            return 0;
        }
        var table = new Table().Title("Silos").AddColumns("name", "status", "roles", "devices", "class", "datacenter", "activations", "held");
        foreach (var s in silos)
        {
            table.AddRow(Markup.Escape(s.Name), s.Drained ? $"{s.Status} (drained)" : s.Status, s.Roles, $"{s.Devices.Count}", s.DeviceClass, s.Datacenter,
                s.Activations.ToString(), $"{s.Leases.Count}/{s.Devices.Count}");
        }
        AnsiConsole.Write(table);
        return 0;
    }
}
