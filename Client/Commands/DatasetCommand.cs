using System.ComponentModel;
using Kernels.Tasks;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Writes a built-in task's examples as JSONL, the format a job's "dataset" field reads.</summary>
public sealed class DatasetCommand : Command<DatasetCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<task>")]
        [Description("arithmetic or runlength.")]
        public string Task { get; init; } = "";

        [CommandOption("--count")]
        [DefaultValue(1000)]
        public int Count { get; init; } = 1000;

        [CommandOption("--seed")]
        [DefaultValue(1L)]
        public long Seed { get; init; } = 1;

        [CommandOption("--output")]
        [Description("The file to write; standard output without it.")]
        public string? Output { get; init; }

        public override ValidationResult Validate() =>
            Count is < 1 or > 10_000_000 ? ValidationResult.Error("--count must be between 1 and 10000000") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        IVerifiableTask task;
        try
        {
            task = TaskDataset.Task(settings.Task);
        }
        catch (ArgumentException e)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{e.Message}[/]");
            return 2;
        }
        var examples = TaskDataset.Generate(task, settings.Count, settings.Seed);
        if (settings.Output is null)
        {
            TaskDataset.Write(Console.Out, examples);
            return 0;
        }
        using var writer = new StreamWriter(settings.Output);
        TaskDataset.Write(writer, examples);
        return 0;
    }
}
