using Grains.Interfaces.Jobs;
using System.ComponentModel;
using Kernels.Benchmarks;
using Kernels.Model;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Measures the tensor kernels on this machine: decoding, KV-cache benefit, training throughput and efficiency.</summary>
public sealed class KernelsBenchCommand : Command<KernelsBenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--new-tokens")]
        [Description("New tokens for the cached-versus-recomputed generation comparison.")]
        [DefaultValue(256)]
        public int NewTokens { get; init; } = 256;

        [CommandOption("--train-steps")]
        [Description("Timed training steps per model (after one warm-up step).")]
        [DefaultValue(3)]
        public int TrainSteps { get; init; } = 3;

        [CommandOption("--demo-only")]
        [Description("Measure only the demo model (quick).")]
        public bool DemoOnly { get; init; }

        public override ValidationResult Validate() =>
            NewTokens is < 1 or > 480 ? ValidationResult.Error("--new-tokens must be between 1 and 480") :
            TrainSteps < 1 ? ValidationResult.Error("--train-steps must be at least 1") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var models = new List<(string Name, ModelConfig Config)> { (RlSpec.DemoModel, ModelPresets.Demo) };
        if (!settings.DemoOnly) models.Add(("large", ModelPresets.Large));
        var results = new List<KernelBenchmarkResult>();
        AnsiConsole.Status().Start("Measuring...", status =>
        {
            foreach (var (name, config) in models)
            {
                status.Status($"Measuring the {name} model...");
                results.Add(KernelBenchmark.Run(name, config, [1, 16, 64], settings.NewTokens, trainBatch: 16, trainLength: 256, settings.TrainSteps));
            }
        });

        var table = new Table().Title($"Kernels on this machine ({Environment.ProcessorCount} cores, fp32, CPU)").AddColumn("measure");
        foreach (var r in results) table.AddColumn(new TableColumn($"{r.Model} ({r.Parameters / 1e6:F2} M params)").RightAligned());
        void Row(string label, Func<KernelBenchmarkResult, string> value) => table.AddRow([label, .. results.Select(value)]);
        for (var i = 0; i < 3; i++)
        {
            var index = i;
            Row($"decode tokens/s, batch {results[0].Decode[i].Batch}", r => r.Decode[index].TokensPerSecond.ToString("N0"));
        }
        Row($"generate {settings.NewTokens} tokens with KV cache, s", r => r.CachedSeconds.ToString("F2"));
        Row($"generate {settings.NewTokens} tokens recomputing, s", r => r.RecomputeSeconds.ToString("F2"));
        Row("KV-cache speed-up", r => $"{r.CacheSpeedup:F1}x");
        Row("training tokens/s (batch 16 x 256)", r => r.TrainTokensPerSecond.ToString("N0"));
        Row("training GFLOP/s", r => (r.TrainFlopsPerSecond / 1e9).ToString("F1"));
        Row("2048^3 matmul GFLOP/s (same run)", r => (r.MatmulFlopsPerSecond / 1e9).ToString("F1"));
        Row("training / matmul FLOP/s", r => $"{r.TrainEfficiency:P0}");
        AnsiConsole.Write(table);
        return 0;
    }
}
