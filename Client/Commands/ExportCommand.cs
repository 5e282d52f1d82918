using System.ComponentModel;
using Grains.Interfaces.Models;
using Grains.Models;
using Kernels.Checkpoints;
using Kernels.Tokenizers;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Writes a job's trained actor as a Hugging Face model folder (config.json, safetensors shards with their
/// index, tokenizer, generation_config.json): the weights read from the cluster's store in chunks.
/// </summary>
public sealed class ExportCommand : AsyncCommand<ExportCommand.Settings>
{
    private const int ChunkBytes = 4 * 1024 * 1024;

    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<job>")]
        public string Job { get; init; } = "";

        [CommandArgument(1, "<folder>")]
        [Description("Where to write the model (created if need be).")]
        public string Folder { get; init; } = "";

        [CommandOption("--iteration")]
        [Description("The weights version to export (default: the latest the store keeps).")]
        public int? Iteration { get; init; }

        [CommandOption("--max-shard-mb")]
        [Description("Weights above this many MB are split into shards with an index.")]
        [DefaultValue(5000)]
        public int MaxShardMb { get; init; } = 5000;

        public override ValidationResult Validate() => MaxShardMb < 1 ? ValidationResult.Error($"--max-shard-mb must be at least 1, not {MaxShardMb}") : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        var export = host.Cluster().GetGrain<IModelExportGrain>(settings.Job);
        ExportedModel model;
        try
        {
            model = await export.Open(settings.Iteration);
        }
        catch (ArgumentException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        var bytes = await Grains.Storage.GrainChunks.Gather(model.WeightsObject, model.Length, offset => export.Read(offset, ChunkBytes));
        using var weights = SafeTensors.Load(new MemoryStream(bytes));
        var config = ModelCatalog.Config(model.Model);
        var files = ModelCatalog.IsFolder(model.Model)
            ? HuggingFaceFolder.Write(settings.Folder, config, weights.Tensors, ModelCatalog.Tokenizer(model.Model), ModelCatalog.TokenizerFiles(model.Model), model.Temperature, settings.MaxShardMb * 1_000_000L)
            : HuggingFaceFolder.Write(settings.Folder, config, weights.Tensors, (CharTokenizer)ModelCatalog.Tokenizer(model.Model), model.Temperature, settings.MaxShardMb * 1_000_000L);
        AnsiConsole.MarkupLineInterpolated($"[green]{settings.Job} iteration {model.Version}[/] written to {settings.Folder}: {string.Join(", ", files)}");
        return 0;
    }
}
