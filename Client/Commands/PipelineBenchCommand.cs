using Client.Benchmarks;
using Grains.Interfaces.Jobs;
using Grains.Models;
using System.ComponentModel;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;
using Grains.Pipeline;
using Grains.Planning;
using Grains.Rl;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Runs pipelined training steps of the demo model on stage grains of an in-process silo, under each
/// schedule, on the same seeded rows, and prints each device's busy and idle time with the measured
/// bubble fraction next to the analytic one of 1F1B (p - 1) / (m + p - 1), or the planned one of a
/// fused plan.
/// </summary>
public sealed class PipelineBenchCommand : AsyncCommand<PipelineBenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--stages")][Description("Actor pipeline stages (at most the model's 4 layers).")][DefaultValue(4)] public int Stages { get; init; } = 4;
        [CommandOption("--micro-batches")][Description("Micro-batches per replica and step.")][DefaultValue(8)] public int MicroBatches { get; init; } = 8;
        [CommandOption("--replicas")][Description("Data-parallel replicas of the pipeline (1F1B and GPipe).")][DefaultValue(1)] public int Replicas { get; init; } = 1;
        [CommandOption("--critic-stages")][Description("Also train a critic of this many stages with the actor: sequential 1F1B vs a fused plan (0: actor only).")][DefaultValue(0)] public int CriticStages { get; init; }
        [CommandOption("--rows")][Description("Samples per micro-batch.")][DefaultValue(8)] public int Rows { get; init; } = 8;
        [CommandOption("--steps")][Description("Steps per schedule; the first warms up and is not counted.")][DefaultValue(4)] public int Steps { get; init; } = 4;
        [CommandOption("--bf16")][Description("Send activations and gradients as bf16.")] public bool BFloat16 { get; init; }

        public override ValidationResult Validate() =>
            Stages < 1 || MicroBatches < 1 || Replicas < 1 || Rows < 1 || Steps < 2 ? ValidationResult.Error("stages, micro-batches, replicas and rows must be at least 1, steps at least 2")
            : CriticStages < 0 || CriticStages > 0 && (Stages % CriticStages != 0 || Replicas != 1 || MicroBatches % (Stages / CriticStages) != 0)
                ? ValidationResult.Error("--critic-stages must divide --stages, with one replica and micro-batches divisible by stages / critic stages")
            : ValidationResult.Success();
    }

    private sealed record Row(string Schedule, double StepSeconds, double Bubble, double Expected, string ExpectedKind, double[] Busy, double[] Idle);

    public override async Task<int> ExecuteAsync(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var devices = s.Stages * s.Replicas;
        using var host = await InProcessSilo.StartAsync(null, cancellationToken, devices: devices);
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var vocabulary = ModelCatalog.Config(RlSpec.DemoModel).VocabSize;
        TrainerSetup Trainer(bool critic) => new(RlSpec.DemoModel, critic, critic ? 2 : 1, 1e-4, 0, 0.2, 0, KlEstimatorKind.K3, 0, 1.0, 0.5);

        var runs = new List<(PipelineSchedule Schedule, double Expected, string Kind)>();
        if (s.CriticStages == 0)
        {
            var actor = new ModelLayout("actor", s.Stages, s.Replicas, s.MicroBatches);
            var analytic = PipelineSchedules.OneForwardOneBackwardBubble(s.Stages, s.MicroBatches);
            runs.Add((PipelineSchedules.OneForwardOneBackward(actor), analytic, "analytic"));
            runs.Add((PipelineSchedules.GPipe(actor), analytic, "analytic"));
        }
        else
        {
            var fused = JobPipeline.FusedPlan(s.Stages, s.CriticStages, s.MicroBatches, seed: 1);
            var sequential = Baselines.Sequential1F1B(fused.Problem);
            runs.Add((PipelineSchedules.Fused(sequential) with { Name = "sequential 1f1b" }, sequential.BubbleRate, "planned"));
            runs.Add((PipelineSchedules.Fused(fused), fused.BubbleRate, "planned"));
        }

        var results = new List<Row>();
        foreach (var (schedule, expected, kind) in runs)
        {
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(schedule.Name)}: {s.Steps} steps...[/]");
            var trainer = new PipelineTrainer(grains, $"pipeline-bench-{schedule.Name.Replace(' ', '-')}", schedule,
                schedule.Models.Select(m => Trainer(m.Name == "critic")).ToArray(), s.BFloat16);
            await trainer.Setup();
            var steps = new List<PipelineStepResult>();
            for (var step = 1; step <= s.Steps; step++)
            {
                var rows = schedule.Models.Select((m, k) => JobPipeline.Cut(
                    SyntheticRows.Make(m.Replicas * m.MicroBatches * s.Rows, vocabulary, step * 10 + k, (8, 24), (8, 48)), m)).ToArray();
                steps.Add(await trainer.Step(step, rows));
            }
            await trainer.Release();
            var counted = steps.Skip(1).ToArray();
            var seconds = counted.Average(r => r.Seconds);
            var busy = Enumerable.Range(0, schedule.Devices.Length).Select(d => counted.Average(r => r.DeviceBusy[d])).ToArray();
            results.Add(new Row(schedule.Name, seconds, counted.Average(r => r.BubbleFraction), expected, kind, busy,
                busy.Select((b, d) => counted.Average(r => Math.Max(0, r.Seconds - r.DeviceBusy[d]))).ToArray()));
        }
        Print(s, results);
        await host.StopAsync(cancellationToken);
        return 0;
    }

    private static void Print(Settings s, List<Row> results)
    {
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 160);
        AnsiConsole.MarkupLine($"demo model, {s.Stages} stages{(s.CriticStages > 0 ? $" + critic in {s.CriticStages}" : "")}, {s.MicroBatches} micro-batches of {s.Rows} samples, {s.Replicas} replica(s), {(s.BFloat16 ? "bf16" : "fp32")} on the wire; {Environment.ProcessorCount} cores");
        var table = new Table().AddColumns("schedule", "step (s)", "bubble measured", "bubble expected", "busy / idle per device (s)");
        foreach (var r in results)
        {
            table.AddRow(Markup.Escape(r.Schedule), $"{r.StepSeconds:F3}", $"{r.Bubble:P1}", $"{r.Expected:P1} ({r.ExpectedKind})",
                string.Join("  ", r.Busy.Select((b, d) => $"d{d} {b:F3}/{r.Idle[d]:F3}")));
        }
        AnsiConsole.Write(table);
        if (results.Count == 2) AnsiConsole.MarkupLine($"{Markup.Escape(results[1].Schedule)} vs {Markup.Escape(results[0].Schedule)}: {results[0].StepSeconds / results[1].StepSeconds:F2}x step time");
    }
}
