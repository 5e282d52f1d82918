using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;
using Microsoft.Extensions.DependencyInjection;
using Silo;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Runs one emulated workload under every stage policy, one after the other on one in-process silo,
/// and compares them on the last iteration: emulated iteration time, samples/s, speed-up over
/// barrier, busy share per role, the ideal bound and efficiency, the barrier's analytic prediction, and
/// the control plane's figures. Writes a timeline SVG per policy and, with --json, the same as JSON.
/// </summary>
public sealed class BenchCommand : AsyncCommand<BenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<workload.json>")][Description("An rl job file with devices 'emulated' (see infra/workloads).")] public string File { get; init; } = "";
        [CommandOption("--policies")][Description("Comma-separated stage policies (default: all).")] public string? Policies { get; init; }
        [CommandOption("--iterations")][Description("Iterations per policy; the last is measured.")][DefaultValue(2)] public int Iterations { get; init; } = 2;
        [CommandOption("--time-scale")][Description("Emulated seconds per wall second (default: the workload's).")] public double? TimeScale { get; init; }
        [CommandOption("--out")][Description("Folder for the timelines (default runs/bench/<workload>).")] public string? Out { get; init; }
        [CommandOption("--json")][Description("Also write the figures as JSON to this file.")] public string? Json { get; init; }

        public override ValidationResult Validate() =>
            Iterations is < 1 or > 100 ? ValidationResult.Error("--iterations must be between 1 and 100")
            : TimeScale is <= 0 ? ValidationResult.Error("--time-scale must be positive")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var loaded = await JobView.LoadAsync(settings.File, cancellationToken);
        if (loaded is null) return 2;
        if (loaded.Rl is not { Emulated: true } rl)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(settings.File)}: bench runs emulated workloads; set rl.devices to \"emulated\"[/]");
            return 2;
        }
        StagePolicy[] policies;
        try
        {
            policies = settings.Policies is null ? Enum.GetValues<StagePolicy>()
                : [.. settings.Policies.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(SpecNames.Parse<StagePolicy>)];
        }
        catch (ArgumentException e)
        {
            AnsiConsole.MarkupLine($"[red]--policies: {Markup.Escape(e.Message)}[/]");
            return 2;
        }
        var workload = loaded with { Iterations = settings.Iterations, Rl = rl with { CheckpointEvery = 0, Emulation = rl.Emulation! with { TimeScale = settings.TimeScale ?? rl.Emulation!.TimeScale } } };
        EmulatedJob emulated;
        try
        {
            emulated = new EmulatedJob(workload);
        }
        catch (ArgumentException e)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(settings.File)}: {Markup.Escape(e.Message)}[/]");
            return 2;
        }
        var analytic = emulated.Workload(settings.Iterations);
        var bound = IdealBound.For(analytic);
        var predicted = BarrierIteration.Predict(analytic);
        var instances = new Dictionary<string, int>
        {
            ["generation"] = rl.GenerationWorkers, ["scoring"] = rl.Emulation!.InferenceDevices,
            ["actor"] = rl.TrainingReplicas, ["critic"] = rl.NeedsCritic ? rl.TrainingReplicas : 0,
        };
        var output = settings.Out ?? Path.Combine("runs", "bench", workload.Name);
        Directory.CreateDirectory(output);

        using var host = await InProcessSilo.StartAsync(workload, cancellationToken, jobs: policies.Length);
        var grains = host.Services.GetRequiredService<IGrainFactory>();
        var counter = host.Services.GetRequiredService<GrainCallCounter>();
        var results = new List<PolicyResult>();
        try
        {
            foreach (var policy in policies.Select(SpecNames.Of))
            {
                var job = workload with { Name = $"{workload.Name}-{policy}", Rl = workload.Rl! with { StagePolicy = SpecNames.Parse<StagePolicy>(policy) } };
                AnsiConsole.MarkupLine($"[grey]{policy}: {settings.Iterations} iteration(s) of {analytic.Samples.Count} samples on {emulated.Devices} emulated {rl.Emulation.DeviceClass}...[/]");
                var (calls, clock) = (counter.Calls, Stopwatch.StartNew());
                await grains.GetGrain<IJobGrain>(job.Name).Submit(job);
                var status = await JobView.WatchAsync(grains, job.Name, cancellationToken);
                if (status.State != JobState.Completed)
                {
                    AnsiConsole.MarkupLine($"[red]{policy}: the job ended {status.State}: {Markup.Escape(status.Message)}[/]");
                    return 1;
                }
                var wall = clock.Elapsed.TotalSeconds;
                var activations = (await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics()).Sum(s => s.ActivationCount);
                var m = (await grains.GetGrain<IJobGrain>(job.Name).Metrics(settings.Iterations)).Single();
                var seconds = m.IterationSeconds * m.TimeScale;
                results.Add(new PolicyResult(policy, seconds, analytic.Samples.Count / seconds, 0,
                    TimelineAnalysis.BusyByRole(m.Timeline, instances, seconds), bound.Seconds / seconds,
                    policy == "barrier" ? seconds / predicted.Total - 1 : null,
                    (counter.Calls - calls) / wall, activations, TimelineAnalysis.NoDeviceBusyShare(m.Timeline, seconds), m.IterationSeconds,
                    Path.Combine(output, $"{policy}.svg")));
                File.WriteAllText(results[^1].Timeline, Timeline(m, seconds, $"{workload.Name}, {policy}: iteration {m.Iteration}, {seconds:F1} emulated s"));
            }
        }
        finally
        {
            await host.StopAsync(CancellationToken.None);
        }

        var barrier = results.FirstOrDefault(r => r.Policy == "barrier")?.IterationSeconds;
        results = results.Select(r => r with { SpeedUp = barrier is { } b ? b / r.IterationSeconds : double.NaN }).ToList();
        Print(workload, emulated, analytic, bound, predicted, results);
        if (settings.Json is not null)
        {
            var json = new
            {
                workload = workload.Name, devices = emulated.Devices, samples = analytic.Samples.Count, timeScale = emulated.TimeScale,
                bound = new { seconds = bound.Seconds, workPerDevice = bound.WorkPerDevice, criticalPath = bound.CriticalPath },
                barrierPrediction = new { seconds = predicted.Total, generation = predicted.Generation, scoring = predicted.Scoring, training = predicted.Training, weightTransfer = predicted.WeightTransfer },
                policies = results,
            };
            await File.WriteAllTextAsync(settings.Json, JsonSerializer.Serialize(json, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }), cancellationToken);
        }
        return 0;
    }

    /// <summary>One policy's figures on the measured iteration; seconds are emulated unless named wall.</summary>
    public sealed record PolicyResult(string Policy, double IterationSeconds, double SamplesPerSecond, double SpeedUp, Dictionary<string, double> Busy,
        double Efficiency, double? PredictionError, double GrainCallsPerSecond, int Activations, double ControlPlaneShare, double WallSeconds, string Timeline);

    private static void Print(JobSpec workload, EmulatedJob emulated, EmulatedWorkload analytic, IdealBound bound, IterationTimes predicted, List<PolicyResult> results)
    {
        var rl = workload.Rl!;
        // Redirected output (a log, CI) would otherwise be cut to 80 columns.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 200);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(workload.Name)}[/]: {rl.Algorithm}, {analytic.Samples.Count} samples of {Markup.Escape(rl.Emulation!.Lengths)} lengths, {emulated.Devices} x {rl.Emulation.DeviceClass}, time scale {emulated.TimeScale}");
        AnsiConsole.MarkupLine($"ideal bound {bound.Seconds:F1} s = max(work / devices {bound.WorkPerDevice:F1} s, longest sample's critical path {bound.CriticalPath:F1} s); barrier predicted analytically {predicted.Total:F1} s (generation {predicted.Generation:F1}, scoring {predicted.Scoring:F1}, training {predicted.Training:F1}, weights {predicted.WeightTransfer:F2})");
        var roles = results.SelectMany(r => r.Busy.Keys).Distinct().ToArray();
        var table = new Table().AddColumns("policy", "iteration (s)", "samples/s", "speed-up", "bound (s)", "efficiency", "vs analytic");
        foreach (var role in roles) table.AddColumn($"busy {role}");
        foreach (var r in results)
        {
            table.AddRow([r.Policy, $"{r.IterationSeconds:F1}", $"{r.SamplesPerSecond:F1}", $"{r.SpeedUp:F2}x", $"{bound.Seconds:F1}", $"{r.Efficiency:P0}",
                r.PredictionError is { } e ? $"{e:+0.0%;-0.0%}" : "", .. roles.Select(role => r.Busy.TryGetValue(role, out var b) ? $"{b:P0}" : "")]);
        }
        AnsiConsole.Write(table);
        var control = new Table().AddColumns("policy", "grain calls/s", "activations", "no device busy", "wall s / iteration", "timeline");
        foreach (var r in results) control.AddRow(r.Policy, $"{r.GrainCallsPerSecond:N0}", $"{r.Activations:N0}", $"{r.ControlPlaneShare:P1}", $"{r.WallSeconds:F2}", Markup.Escape(r.Timeline));
        AnsiConsole.Write(control);
    }

    private static string Timeline(IterationMetrics m, double seconds, string caption)
    {
        var order = TimelineAnalysis.Roles.ToList();
        var rows = m.Timeline.OrderBy(t => order.IndexOf(TimelineAnalysis.Role(t.Holder))).ThenBy(t => t.Holder.Length).ThenBy(t => t.Holder, StringComparer.Ordinal)
            .Select(t => (t.Holder[(t.Holder.IndexOf('/') + 1)..], (IReadOnlyList<TimelineSvgBar>)t.Bars.Select(b =>
                new TimelineSvgBar(b.Start, b.End, Colour(b.Stage), $"{b.Stage} {b.Start:F2}-{b.End:F2} s")).ToArray())).ToArray();
        return TimelineSvg.Draw(rows, seconds, $"{caption}; blue: generation, orange: scoring, green: training, grey: weights");
    }

    private static string Colour(string stage) => stage switch
    {
        "generation" => "#6fa8dc", "scoring" => "#f6b26b", "training" => "#93c47d", _ => "#999999",
    };
}
