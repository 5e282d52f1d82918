using System.ComponentModel;
using System.Globalization;
using Grains.Interfaces.Models;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Merges models in the cluster's checkpoint store: linearly with a weight each, or two by SLERP. The
/// result is a safetensors object of the store that a job starts from with <c>rl.initialWeights</c>.
/// </summary>
public sealed class MergeCommand : AsyncCommand<MergeCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<models>")]
        [Description("Two or more safetensors objects of the checkpoint store, e.g. jobs/a/weights/actor-000100.safetensors.")]
        public string[] Models { get; init; } = [];

        [CommandOption("--weights")]
        [Description("Linear merge: one weight per model, comma-separated (default: equal weights summing to 1).")]
        public string? Weights { get; init; }

        [CommandOption("--slerp")]
        [Description("Merge two models by spherical interpolation at t (0: the first, 1: the second).")]
        public double? Slerp { get; init; }

        [CommandOption("--out")]
        [Description("The object to write, e.g. models/merged.safetensors.")]
        public string Out { get; init; } = "";

        public override ValidationResult Validate() =>
            Models.Length < 2 ? ValidationResult.Error($"<models>: two or more to merge, not {Models.Length}")
            : string.IsNullOrWhiteSpace(Out) ? ValidationResult.Error("--out: the object to write is required")
            : Slerp is not null && Weights is not null ? ValidationResult.Error("--weights and --slerp: give one (linear or spherical), not both")
            : Weights is not null && ParseWeights(Weights) is null ? ValidationResult.Error($"--weights: '{Weights}' is not a comma-separated list of numbers")
            : ValidationResult.Success();

        public static double[]? ParseWeights(string text)
        {
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            var weights = new double[parts.Length];
            for (var i = 0; i < parts.Length; i++)
            {
                if (!double.TryParse(parts[i], NumberStyles.Float, CultureInfo.InvariantCulture, out weights[i])) return null;
            }
            return weights;
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var request = new MergeRequest
        {
            Inputs = settings.Models,
            Slerp = settings.Slerp,
            Weights = settings.Slerp is not null ? null
                : settings.Weights is { } w ? Settings.ParseWeights(w) : [.. settings.Models.Select(_ => 1.0 / settings.Models.Length)],
            Output = settings.Out,
        };
        using var host = await settings.ConnectAsync(cancellationToken);
        try
        {
            var merged = await host.Cluster().GetGrain<IModelMergeGrain>(0).Merge(request);
            AnsiConsole.MarkupLineInterpolated($"[green]wrote {merged.Output}[/]: {merged.Tensors} tensors, {merged.Bytes:N0} bytes, sha256 {merged.Sha256[..16]}; start a job from it with \"initialWeights\": \"{merged.Output}\"");
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
    }
}
