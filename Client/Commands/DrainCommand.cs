using System.ComponentModel;
using Grains.Interfaces.Cluster;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Drains a silo: it gets no new device grains, its device grains finish their current calls and
/// leave (their next call places them elsewhere; a generation worker first hands its samples to its
/// job's other workers), and once none is left it can be stopped.
/// </summary>
public sealed class DrainCommand : AsyncCommand<DrainCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<silo>")]
        [Description("The silo's name or address (as `cluster` lists them).")]
        public string Silo { get; init; } = "";

        [CommandOption("--wait")]
        [Description("Seconds to wait for its device grains to leave.")]
        [DefaultValue(60)]
        public int WaitSeconds { get; init; } = 60;
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        var grains = host.Cluster();
        var silos = await grains.GetGrain<IClusterInfoGrain>(0).Silos();
        var target = silos.Where(s => s.Status == "Active").FirstOrDefault(s => s.Name == settings.Silo || s.Address == settings.Silo);
        if (target is null)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]no active silo named or addressed '{settings.Silo}'[/] (active: {string.Join(", ", silos.Where(s => s.Status == "Active").Select(s => s.Name))})");
            return 1;
        }
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);
        var holders = await directory.Drain(target.Address);
        AnsiConsole.MarkupLineInterpolated($"draining {target.Name}: {holders.Count} device grain(s) asked to leave");
        var deadline = DateTime.UtcNow.AddSeconds(settings.WaitSeconds);
        while (true)
        {
            var left = (await directory.Leases()).Count(l => l.Silo == target.Address);
            if (left == 0)
            {
                AnsiConsole.MarkupLineInterpolated($"[green]{target.Name} is drained[/]: no device grains left; it can be stopped");
                return 0;
            }
            if (DateTime.UtcNow > deadline)
            {
                AnsiConsole.MarkupLineInterpolated($"[yellow]{target.Name} still holds {left} device grain(s) after {settings.WaitSeconds} s[/]");
                return 1;
            }
            await Task.Delay(500, cancellationToken);
        }
    }
}
