using System.ComponentModel;
using System.Text.Json.Nodes;
using Grains.Interfaces.Models;
using Grains.Models;
using Kernels.Checkpoints;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Brings a Hugging Face model folder (config.json, model.safetensors or shards with their index) into the
/// cluster's checkpoint store as one weights object a job starts from (rl.initialWeights). The folder's
/// config must be the job's model preset's: a field that differs is named.
/// </summary>
public sealed class ImportCommand : AsyncCommand<ImportCommand.Settings>
{
    private const int ChunkBytes = 4 * 1024 * 1024;

    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<folder>")]
        public string Folder { get; init; } = "";

        [CommandOption("--out")]
        [Description("The object to write, e.g. models/imported.safetensors.")]
        public string Out { get; init; } = "";

        [CommandOption("--model")]
        [Description("The model preset the jobs that start from it name (rl.model).")]
        [DefaultValue(Grains.Interfaces.Jobs.RlSpec.DemoModel)]
        public string Model { get; init; } = Grains.Interfaces.Jobs.RlSpec.DemoModel;

        public override ValidationResult Validate() => string.IsNullOrWhiteSpace(Out) ? ValidationResult.Error("--out: the object to write is required") : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        byte[] bytes;
        try
        {
            var (config, tensors) = HuggingFaceFolder.Read(settings.Folder);
            try
            {
                var expected = JsonNode.Parse(ModelCatalog.Config(settings.Model).ToJson())!.AsObject();
                var found = JsonNode.Parse(config.ToJson())!.AsObject();
                if (expected.FirstOrDefault(p => !JsonNode.DeepEquals(p.Value, found[p.Key])) is { Key: not null } differs)
                {
                    throw new InvalidDataException($"{settings.Folder}/config.json: {differs.Key} is {found[differs.Key]?.ToJsonString()}, but model '{settings.Model}' has {differs.Value?.ToJsonString()}");
                }
                using var buffer = new MemoryStream();
                SafeTensors.Save(buffer, tensors, new Dictionary<string, string> { ["format"] = "pt" });
                bytes = buffer.ToArray();
            }
            finally
            {
                foreach (var tensor in tensors.Values) tensor.Dispose();
            }
        }
        catch (Exception e) when (e is IOException or InvalidDataException or ArgumentException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 1;
        }
        using var host = await settings.ConnectAsync(cancellationToken);
        var import = host.Cluster().GetGrain<IModelImportGrain>(settings.Out);
        for (var offset = 0; offset < bytes.Length; offset += ChunkBytes) await import.Append(offset, bytes[offset..Math.Min(bytes.Length, offset + ChunkBytes)]);
        var sha = await import.Commit(bytes.Length);
        AnsiConsole.MarkupLineInterpolated($"[green]wrote {settings.Out}[/]: {bytes.Length:N0} bytes, sha256 {sha[..16]}; start a job from it with \"initialWeights\": \"{settings.Out}\"");
        return 0;
    }
}
