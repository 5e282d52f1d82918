using System.ComponentModel;
using Grains.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Models;
using Grains.Preference;
using Kernels.Preference;
using Kernels.Tasks;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Writes a dataset as JSONL: a built-in task's examples (the format of a job's "dataset"), or with "pairs"
/// preference pairs made from an RL job's samples on a running cluster (the format of a DPO job's "pairs").
/// </summary>
public sealed class DatasetCommand : AsyncCommand<DatasetCommand.Settings>
{
    public sealed class Settings : ClusterSettings
    {
        [CommandArgument(0, "<task>")]
        [Description("arithmetic, runlength or lookup: the task's examples; pairs: preference pairs from --job's samples (best vs worst of each group by the verifier).")]
        public string Task { get; init; } = "";

        [CommandOption("--count")]
        [DefaultValue(1000)]
        public int Count { get; init; } = 1000;

        [CommandOption("--seed")]
        [DefaultValue(1L)]
        public long Seed { get; init; } = 1;

        [CommandOption("--demonstrate")]
        [Description("Give examples a demonstration that calls tools, what a warm start teaches a job with rl.tools: arithmetic with calc (\"[calc 12+34]<46>46\"), lookup with search (\"[search item 4711]<item 4711 lamp code 58>[calc 58+23]<81>81\").")]
        public string? Demonstrate { get; init; }

        [CommandOption("--demonstrated")]
        [Description("With --demonstrate: how many examples (the first) get a demonstration; a warm start then teaches those only. All without it.")]
        public int? Demonstrated { get; init; }

        [CommandOption("--documents")]
        [Description("lookup: also write the catalog the questions ask about, one {\"text\": ...} per line, to this file: the documents of rl.tools.documents.")]
        public string? Documents { get; init; }

        [CommandOption("--job")]
        [Description("pairs: the RL job whose trained samples (the latest steps' the job keeps) the pairs are made of.")]
        public string? Job { get; init; }

        [CommandOption("--every")]
        [Description("pairs: every distinct response over every distinct response rewarded less in its group, not only the best over the worst.")]
        public bool Every { get; init; }

        [CommandOption("--output")]
        [Description("The file to write; standard output without it.")]
        public string? Output { get; init; }

        public override ValidationResult Validate() =>
            Count is < 1 or > 10_000_000 ? ValidationResult.Error("--count must be between 1 and 10000000")
            : Task == "pairs" && string.IsNullOrWhiteSpace(Job) ? ValidationResult.Error("pairs: --job names the RL job whose samples make the pairs")
            : Task != "pairs" && Job is not null ? ValidationResult.Error($"--job is for pairs, not {Task}")
            : Demonstrate is not null && !(Task == "arithmetic" && Demonstrate == "calc" || Task == "lookup" && Demonstrate == "search")
                ? ValidationResult.Error($"--demonstrate: calc for arithmetic or search for lookup, not {Demonstrate} for {Task}")
            : Demonstrated is not null && Demonstrate is null ? ValidationResult.Error("--demonstrated goes with --demonstrate")
            : Demonstrated is < 1 ? ValidationResult.Error("--demonstrated must be at least 1")
            : Documents is not null && Task != "lookup" ? ValidationResult.Error($"--documents is for lookup, not {Task}")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        if (settings.Task == "pairs") return await Pairs(settings, cancellationToken);
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
        if (settings.Demonstrate is not null)
        {
            var shown = settings.Demonstrated ?? examples.Count;
            examples = [.. examples.Select((e, k) => k < shown ? e with { Demonstration = Demonstration(task, e) } : e)];
        }
        using (var writer = settings.Output is null ? null : new StreamWriter(settings.Output)) TaskDataset.Write(writer ?? Console.Out, examples);
        if (settings.Documents is not null)
        {
            using var documents = new StreamWriter(settings.Documents);
            Kernels.Tools.DocumentSearch.WriteDocuments(documents, ((LookupTask)task).Documents());
        }
        return 0;
    }

    /// <summary>
    /// A response that calls the tools: "12+34=" -> "[calc 12+34]&lt;46&gt;46" (the call, the calculator's answer,
    /// the answer); a lookup question -> its search, then its sum (<see cref="LookupTask.Demonstration"/>).
    /// </summary>
    private static string Demonstration(IVerifiableTask task, TaskExample e) => task is LookupTask lookup
        ? lookup.Demonstration(e)
        : $"[calc {e.Prompt[..^1]}]<{Kernels.Tools.Calculator.Evaluate(e.Prompt[..^1])}>{e.Answer}";

    /// <summary>Pairs from every iteration of the job whose samples it still keeps, up to --count.</summary>
    private static async Task<int> Pairs(Settings settings, CancellationToken cancellationToken)
    {
        using var host = await settings.ConnectAsync(cancellationToken);
        var job = host.Cluster().GetGrain<IJobGrain>(settings.Job!);
        if (await SiloLoss.Retry(job.Spec) is not { Kind: JobKind.Rl, Rl: { Emulated: false } rl })
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{settings.Job} is not an RL job on real devices on this cluster: its samples have no tokens to make pairs of[/]");
            return 1;
        }
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(rl.Model));
        var status = await SiloLoss.Retry(job.Status);
        var pairs = new List<PreferencePair>();
        for (var i = 1; i <= status.IterationsDone && pairs.Count < settings.Count; i++)
        {
            pairs.AddRange(PairsFromSamples.Of(await SiloLoss.Retry(() => job.TrainedRecords(i)), encoding, settings.Every));
        }
        if (pairs.Count == 0)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]{settings.Job} keeps no group whose responses the verifier rewarded differently: no pairs[/]");
            return 1;
        }
        using var writer = settings.Output is null ? null : new StreamWriter(settings.Output);
        PreferenceFile.Write(writer ?? Console.Out, pairs.Take(settings.Count));
        if (settings.Output is not null) AnsiConsole.MarkupLineInterpolated($"[green]{Math.Min(pairs.Count, settings.Count)} pairs[/] from {settings.Job}'s samples written to {settings.Output}");
        return 0;
    }
}
