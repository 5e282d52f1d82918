using System.ComponentModel;
using System.Globalization;
using System.Text;
using System.Text.Json;
using Grains.Planning;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>Plans a fused actor + critic pipeline schedule and compares it with the bound and the sequential baseline.</summary>
public sealed class ScheduleCommand : Command<ScheduleCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--pp0")][Description("Actor pipeline stages (= devices).")][DefaultValue(8)] public int Pp0 { get; init; } = 8;
        [CommandOption("--pp1")][Description("Critic pipeline stages (divides pp0).")][DefaultValue(4)] public int Pp1 { get; init; } = 4;
        [CommandOption("--m0")][Description("Actor micro-batches.")][DefaultValue(32)] public int M0 { get; init; } = 32;
        [CommandOption("--m1")][Description("Critic micro-batches per replica.")][DefaultValue(16)] public int M1 { get; init; } = 16;
        [CommandOption("--f0")][Description("Actor forward time per stage (backward is twice).")][DefaultValue(5.0)] public double F0 { get; init; } = 5;
        [CommandOption("--f1")][Description("Critic forward time per stage.")][DefaultValue(4.0)] public double F1 { get; init; } = 4;
        [CommandOption("--mem0")][Description("Actor activation memory per in-flight micro-batch.")][DefaultValue(1.95)] public double Mem0 { get; init; } = 1.95;
        [CommandOption("--mem1")][Description("Critic activation memory per in-flight micro-batch.")][DefaultValue(2.0)] public double Mem1 { get; init; } = 2;
        [CommandOption("--mem-cap")][Description("Per-device memory cap.")] public double? MemCap { get; init; }
        [CommandOption("--seconds")][Description("Search time.")][DefaultValue(10.0)] public double Seconds { get; init; } = 10;
        [CommandOption("--moves")][Description("Bound each search chain by moves instead of time: the same seed then gives the same plan.")] public long? Moves { get; init; }
        [CommandOption("--seed")][Description("Search seed.")][DefaultValue(1L)] public long Seed { get; init; } = 1;
        [CommandOption("--json")][Description("Print one JSON object with the figures and the plan.")] public bool Json { get; init; }
        [CommandOption("--svg")][Description("Draw the plan as a timeline into this SVG file.")] public string? Svg { get; init; }

        public override ValidationResult Validate() =>
            Pp0 < 1 ? ValidationResult.Error("--pp0 must be at least 1") :
            Pp1 < 1 || Pp0 % Pp1 != 0 ? ValidationResult.Error($"--pp1 must divide --pp0 ({Pp0})") :
            M0 < 0 || M1 < 0 || M0 + M1 == 0 ? ValidationResult.Error("--m0 and --m1 must be >= 0, not both 0") :
            F0 <= 0 || F1 <= 0 ? ValidationResult.Error("--f0 and --f1 must be positive") :
            Mem0 < 0 || Mem1 < 0 ? ValidationResult.Error("--mem0 and --mem1 must be >= 0") :
            MemCap is <= 0 ? ValidationResult.Error("--mem-cap must be positive") :
            Seconds <= 0 ? ValidationResult.Error("--seconds must be positive") :
            Moves is < 1 ? ValidationResult.Error("--moves must be positive") : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings s, CancellationToken cancellationToken)
    {
        var problem = new PipelineProblem(s.Pp0, s.Pp1, s.M0, s.M1, s.F0, s.F1, s.Mem0, s.Mem1, s.MemCap);
        var result = FusedPlanner.Plan(problem, new PlannerOptions(s.Moves is null ? s.Seconds : 1e6, s.Seed, MaxMovesPerChain: s.Moves ?? long.MaxValue));
        var errors = PlanValidator.Validate(result.Plan);
        if (errors.Count > 0)
        {
            foreach (var e in errors) Console.Error.WriteLine($"invalid plan: {e}");
            return 1;
        }
        if (s.Svg is not null) File.WriteAllText(s.Svg, Svg(result.Plan));
        if (s.Json)
        {
            Console.WriteLine(JsonSerializer.Serialize(new
            {
                makespan = result.Plan.Makespan, lowerBound = result.LowerBound, bubbleRate = result.Plan.BubbleRate,
                peakMemory = result.Plan.PeakMemory, sequentialMakespan = result.Sequential.Makespan, seconds = result.Seconds,
                plan = result.Plan.Devices.Select(d => d.Select(t => new
                {
                    model = (int)t.Task.Model, replica = t.Task.Replica, microBatch = t.Task.MicroBatch, stage = t.Task.Stage,
                    kind = t.Task.Kind.ToString(), start = t.Start, end = t.End,
                })),
            }));
            return 0;
        }
        var table = new Table().Title($"Fused schedule: pp0 {s.Pp0}, pp1 {s.Pp1}, m0 {s.M0}, m1 {s.M1}").AddColumns("measure", "value");
        table.AddRow("makespan", result.Plan.Makespan.ToString("G6", CultureInfo.InvariantCulture));
        table.AddRow("lower bound", result.LowerBound.ToString("G6", CultureInfo.InvariantCulture));
        table.AddRow("gap to the bound", result.Gap.ToString("P2", CultureInfo.InvariantCulture));
        table.AddRow("bubble rate", result.Plan.BubbleRate.ToString("P2", CultureInfo.InvariantCulture));
        table.AddRow("peak memory per device", string.Join(" ", result.Plan.PeakMemory.Select(m => m.ToString("G4", CultureInfo.InvariantCulture))));
        table.AddRow("sequential 1F1B makespan", result.Sequential.Makespan.ToString("G6", CultureInfo.InvariantCulture));
        table.AddRow("speed-up over sequential", $"{result.SpeedUp:F3}x");
        table.AddRow("search", $"{result.Seconds:F1} s, {result.Moves:N0} moves");
        AnsiConsole.Write(table);
        return 0;
    }

    /// <summary>One row per device, one bar per task: actor blue, critic orange; backwards darker.</summary>
    private static string Svg(PipelinePlan plan) => TimelineSvg.Draw(plan.Devices.Select((tasks, d) => ($"device {d}", (IReadOnlyList<TimelineSvgBar>)tasks.Select(t =>
        new TimelineSvgBar(t.Start, t.End, (t.Task.Model, t.Task.Kind) switch
        {
            (PipelineModel.Actor, PassKind.F) => "#6fa8dc", (PipelineModel.Actor, _) => "#1c4587",
            (PipelineModel.Critic, PassKind.F) => "#f6b26b", _ => "#b45f06",
        }, $"{t.Task.Model} r{t.Task.Replica} mb{t.Task.MicroBatch} {t.Task.Kind}{t.Task.Stage} [{t.Start}, {t.End}]")).ToArray())).ToArray(),
        plan.Makespan, $"makespan {plan.Makespan:G6}; blue: actor, orange: critic; dark: backward");
}
