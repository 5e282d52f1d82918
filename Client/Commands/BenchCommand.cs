using System.ComponentModel;
using System.Diagnostics;
using System.Text.Json;
using Client.Benchmarks;
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
/// Runs one emulated workload under each policy, one after the other on one in-process silo, as the
/// published systems measure: steady-state throughput over several iterations after a warm-up, against
/// the colocated barrier (verl's hybrid engine) on as many devices. Prints each policy's trained
/// samples/s and tokens/s, speed-up, efficiency against the bound, generation share of the step, the
/// mean version lag of its samples (asynchronous policies), the
/// analytic prediction's error and the control plane's figures; writes a timeline SVG per policy and,
/// with --json, the same as JSON with the last iteration's device timelines.
/// </summary>
public sealed class BenchCommand : AsyncCommand<BenchCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "<workload.json>")][Description("An rl job file with devices 'emulated' (see infra/workloads).")] public string File { get; init; } = "";
        [CommandOption("--policies")][Description("Comma-separated: colocated-barrier, barrier, streaming, colocated-streaming, colocated-rlhfuse, colocated-streaming-early, colocated-rlhfuse-early, streaming-migrate, colocated-barrier-migrate, colocated-barrier-tailbatch, colocated-tailbatch, colocated-rlhfuse-tailbatch, streaming-tailbatch, colocated-1f1b, colocated-fused, colocated-rlhfuse-fused, colocated-rlhfuse-tailbatch-fused, async-1, async-2, async-4, async-8, and each async-k with -partial, -partial-recompute, -partial-balance, -partial-stream-balance, -stream-balance-needed, -migrate, -migrate-prefill, or the dispatch ablation -round-robin, -pull, -skew (default: the first three).")] public string? Policies { get; init; }
        [CommandOption("--iterations")][Description("Measured iterations per policy, after one warm-up (async-k: 1 + k warm-up steps, measured steps rounded up to a multiple of k + 1, and k more after them).")][DefaultValue(3)] public int Iterations { get; init; } = 3;
        [CommandOption("--time-scale")][Description("Emulated seconds per wall second (default: the workload's).")] public double? TimeScale { get; init; }
        [CommandOption("--out")][Description("Folder for the timelines (default runs/bench/<workload>).")] public string? Out { get; init; }
        [CommandOption("--json <FILE>")][Description("Also write the figures as JSON to this file.")] public string? Json { get; init; }

        public override ValidationResult Validate() =>
            Iterations is < 1 or > 100 ? ValidationResult.Error("--iterations must be between 1 and 100")
            : TimeScale is <= 0 ? ValidationResult.Error("--time-scale must be positive")
            : ValidationResult.Success();
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var loaded = await JobView.LoadAsync(settings.File, cancellationToken);
        if (loaded is null) return 2;
        if (Refusal(settings, loaded) is { } refusal)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(refusal)}[/]");
            return 2;
        }
        var rl = loaded.Rl!;
        var workload = loaded with { Iterations = settings.Iterations + 1, Rl = rl with { CheckpointEvery = 0, Emulation = rl.Emulation! with { TimeScale = settings.TimeScale ?? rl.Emulation!.TimeScale } } };
        var variants = settings.Policies is null ? BenchVariant.Default : settings.Policies.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(BenchVariant.Parse).ToArray();
        var output = settings.Out ?? Path.Combine("runs", "bench", workload.Name);
        Directory.CreateDirectory(output);

        var results = new List<PolicyResult>();
        var steps = new List<IterationMetrics[]>();
        using (var host = await InProcessSilo.StartAsync(workload, cancellationToken, devices: variants.Sum(v => InProcessSilo.LeasedDevices(v.Apply(workload).Rl!))))
        {
            try
            {
                foreach (var variant in variants)
                {
                    var (result, measured) = await Run(host.Services, variant, workload, settings.Iterations, output, cancellationToken);
                    (results, steps) = ([.. results, result], [.. steps, measured]);
                }
            }
            finally
            {
                await host.StopAsync(CancellationToken.None);
            }
        }
        var baseline = results.FirstOrDefault(r => r.Policy == BenchVariant.Baseline)?.SamplesPerSecond;
        results = results.Select(r => r with { SpeedUp = baseline is { } b ? r.SamplesPerSecond / b : null }).ToList();
        var emulated = new EmulatedJob(workload);
        Print(workload, emulated, results);
        var page = Path.Combine(output, "report.html");
        await File.WriteAllTextAsync(page, Report.ReportPage.Bench(workload.Name, [.. results.Zip(steps)]), cancellationToken);
        AnsiConsole.MarkupLineInterpolated($"[grey]the policies' charts, table and timelines: {page}[/]");
        if (settings.Json is not null)
        {
            var json = new { workload = workload.Name, devices = emulated.Devices, samplesPerIteration = emulated.Workload(1).Samples.Count, measuredIterations = settings.Iterations, timeScale = emulated.TimeScale, baseline = BenchVariant.Baseline, policies = results };
            await File.WriteAllTextAsync(settings.Json, JsonSerializer.Serialize(json, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }), cancellationToken);
        }
        return 0;
    }

    private static string? Refusal(Settings settings, JobSpec workload)
    {
        if (workload.Rl is not { Emulated: true } rl) return $"{settings.File}: bench runs emulated workloads; set rl.devices to \"emulated\"";
        if (rl.Placement == RolePlacement.Colocated) return $"{settings.File}: rl.placement: bench derives the colocated runs itself; give it the disaggregated workload";
        try
        {
            var variants = settings.Policies?.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).Select(BenchVariant.Parse).ToArray() ?? [.. BenchVariant.Default];
            // Each policy runs as a job named after it: a second run of one would report the first's figures.
            if (variants.GroupBy(v => v.Name).FirstOrDefault(g => g.Count() > 1) is { } twice) return $"--policies: '{twice.Key}' is named twice; run the bench again to repeat a policy";
            foreach (var job in variants.Select(v => v.Apply(workload)))
            {
                var emulated = new EmulatedJob(job);
                if (job.Rl!.Pools is { Split: PoolSplit.Target }) emulated.CheckTarget();
            }
            return null;
        }
        catch (ArgumentException e)
        {
            return settings.Policies is not null && e.Message.StartsWith('\'') ? $"--policies: {e.Message}" : $"{settings.File}: {e.Message}";
        }
    }

    /// <summary>Runs one policy's job to its end and reads its steady state off the iterations after the first.</summary>
    private static async Task<(PolicyResult Result, IterationMetrics[] Measured)> Run(IServiceProvider services, BenchVariant variant, JobSpec workload, int iterations, string output, CancellationToken cancellation)
    {
        var grains = services.GetRequiredService<IGrainFactory>();
        var counter = services.GetRequiredService<GrainCallCounter>();
        var (job, plan) = variant.WithMigration(variant.Apply(workload));
        iterations = variant.Measured(iterations, workload.Rl);
        var emulated = new EmulatedJob(job);
        if (plan is not null)
        {
            AnsiConsole.MarkupLine(plan.Workers > 0
                ? $"[grey]{variant.Name}: the tail is gathered on {plan.Workers} workers once {plan.Remaining:P0} of a step is left (simulated: generation {plan.Seconds:F1} s, {plan.HeldDeviceSeconds:F0} worker-seconds held)[/]"
                : variant.TrainEarly ? $"[grey]{variant.Name}: no migration is predicted to end a step trained early sooner (simulated generation {plan.Seconds:F1} s); it runs without[/]"
                : $"[grey]{variant.Name}: no migration frees workers without slowing generation (simulated {plan.Seconds:F1} s); it runs without[/]");
        }
        AnsiConsole.MarkupLine($"[grey]{variant.Name}: {variant.WarmUp} + {iterations} + {variant.CoolDown} iterations of {emulated.Workload(1).Samples.Count} samples on {(job.Rl!.Pools is { Split: PoolSplit.Target } ? "up to " : "")}{DevicesOf(emulated)} emulated devices...[/]");
        var (calls, clock) = (counter.Calls, Stopwatch.StartNew());
        await grains.GetGrain<IJobGrain>(job.Name).Submit(job);
        var status = await JobView.WatchAsync(grains, job.Name, cancellation);
        if (status.State != JobState.Completed) throw new InvalidOperationException($"{variant.Name}: the job ended {status.State}: {status.Message}");
        var wall = clock.Elapsed.TotalSeconds;
        var activations = (await grains.GetGrain<IManagementGrain>(0).GetSimpleGrainStatistics()).Sum(s => s.ActivationCount);
        var measured = (await grains.GetGrain<IJobGrain>(job.Name).Metrics(variant.WarmUp + 1)).Take(iterations).ToArray();
        // Each step's bound on the devices it ran on: its pools' division then (rl.pools), else the file's.
        var workloads = measured.Select(m => (m.Pools is { } divided ? emulated.WithPools(divided) : emulated).Workload(m.Iteration)).ToArray();
        // The analytic barrier prediction models neither a gathered tail, a round that ends early, nor pipelined training.
        var predicted = variant.Policy == StagePolicy.Barrier && variant.Migrate is null && !variant.TailBatch && variant.Pipeline is null;
        var steady = SteadyState.Of(measured, workloads, predicted ? w => BarrierIteration.Predict(w).Total : null, variant.Staleness);
        if (variant.TailBatch)
        {
            var rounds = measured.Where(m => m.Round is not null).ToArray();
            AnsiConsole.MarkupLine($"[grey]{variant.Name}: measured {rounds.Count(m => !m.Round!.Long)} short and {rounds.Count(m => m.Round!.Long)} long rounds; " +
                $"{measured.Sum(m => m.Ledger?.Discarded ?? 0)} samples discarded, {measured[^1].Round?.Deferred ?? 0} prompts deferred at the end[/]");
        }
        var last = measured[^1];
        // What the devices cost as the job's pools divided them (rl.pools: sized to a target, or divided by the job).
        var ran = last.Pools is { } pools ? emulated.WithPools(pools) : emulated;
        var seconds = last.IterationSeconds * last.TimeScale;
        var timeline = Path.Combine(output, $"{variant.Name}.svg");
        File.WriteAllText(timeline, Timeline(last, seconds, $"{workload.Name}, {variant.Name}: iteration {last.Iteration}, {seconds:F1} emulated s"));
        // The bound is over the workload's samples; a tail-batching step trains others (those that finished first), and its round's bound is over those.
        var bound = variant.TailBatch ? measured.Sum(m => m.Round?.BoundSeconds ?? double.NaN) : steady.BoundSeconds;
        return (new PolicyResult
        {
            Policy = variant.Name, IterationSeconds = steady.SecondsPerIteration, TrainingSeconds = measured.Average(m => m.TrainingSeconds * m.TimeScale),
            SamplesPerSecond = steady.SamplesPerSecond, TokensPerSecond = steady.TokensPerSecond,
            BoundSeconds = bound / steady.Iterations, Efficiency = bound / steady.Seconds, GenerationShare = steady.GenerationShare, PredictionError = steady.PredictionError,
            Busy = TimelineAnalysis.BusyByRole(last.Timeline, Instances(job, last.Pools), seconds), VersionLag = measured.Average(m => m.VersionLagMean),
            GrainCallsPerSecond = (counter.Calls - calls) / wall, Activations = activations,
            ControlPlaneShare = measured.Average(m => TimelineAnalysis.NoDeviceBusyShare(m.Timeline, m.IterationSeconds * m.TimeScale)),
            WallSecondsPerIteration = wall / (iterations + variant.WarmUp + variant.CoolDown), Timeline = timeline, LastIteration = last.Timeline,
            Devices = DevicesOf(ran), CostPerHour = ran.CostPerHour, SamplesPerCost = ran.CostPerHour is { } cost ? steady.SamplesPerSecond * 3600 / cost : null,
        }, measured);
    }

    /// <summary>Each role's instances in an iteration: as the job file gives them, or as its pools divided them then (rl.pools).</summary>
    private static Dictionary<string, int> Instances(JobSpec job, PoolSizes? pools)
    {
        var rl = job.Rl!;
        var (workers, replicas) = pools is null ? (rl.GenerationWorkers, rl.TrainingReplicas) : (pools.GenerationWorkers, pools.TrainingReplicas);
        return rl.Placement == RolePlacement.Colocated ? new() { ["hybrid"] = rl.GenerationWorkers } : new()
        {
            ["generation"] = workers, ["scoring"] = rl.Emulation!.InferenceDevices,
            ["actor"] = replicas, ["critic"] = rl.NeedsCritic ? replicas : 0,
        };
    }

    /// <summary>One policy's steady-state figures per iteration; seconds are emulated unless named wall.</summary>
    public sealed record PolicyResult
    {
        public required string Policy { get; init; }
        public required double IterationSeconds { get; init; }
        public required double TrainingSeconds { get; init; }
        public required double SamplesPerSecond { get; init; }
        public required double TokensPerSecond { get; init; }
        /// <summary>Samples a second against the baseline's (set once every policy ran; null without a baseline).</summary>
        public double? SpeedUp { get; init; }
        public double? BoundSeconds { get; init; }
        public double? Efficiency { get; init; }
        public double GenerationShare { get; init; }
        /// <summary>The measured step against the analytic model's, where there is one.</summary>
        public double? PredictionError { get; init; }
        /// <summary>Each role's busy share of the last measured step.</summary>
        public Dictionary<string, double> Busy { get; init; } = [];
        /// <summary>The measured steps' mean version lag: how many versions behind the trainer's their samples' weights were.</summary>
        public double VersionLag { get; init; }
        public double GrainCallsPerSecond { get; init; }
        public int Activations { get; init; }
        /// <summary>The share of a step in which no device works.</summary>
        public double ControlPlaneShare { get; init; }
        public double WallSecondsPerIteration { get; init; }
        /// <summary>The SVG file of the last step's device timeline.</summary>
        public string Timeline { get; init; } = "";
        public DeviceTimeline[] LastIteration { get; init; } = [];
        /// <summary>The devices by class, "80 H20 + 48 H800".</summary>
        public string Devices { get; init; } = "";
        public double? CostPerHour { get; init; }
        public double? SamplesPerCost { get; init; }
    }

    /// <summary>The job's devices by class, "80 H20 + 48 H800".</summary>
    internal static string DevicesOf(EmulatedJob emulated) =>
        string.Join(" + ", emulated.DevicesByClass.Where(d => d.Value > 0).OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => $"{d.Value} {d.Key}"));

    private static void Print(JobSpec workload, EmulatedJob emulated, List<PolicyResult> results)
    {
        var rl = workload.Rl!;
        // Redirected output (a log, CI) would otherwise be cut to 80 columns.
        if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = Math.Max(AnsiConsole.Profile.Width, 220);
        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(workload.Name)}[/]: {SpecNames.Of(rl.Algorithm)}, {emulated.Workload(1).Samples.Count} samples per step of {Markup.Escape(rl.Emulation!.Lengths)} lengths, {(rl.Pools is { Split: PoolSplit.Target } ? "up to " : "")}{DevicesOf(emulated)}, time scale {emulated.TimeScale}; steady state over {workload.Iterations - 1} steps after one warm-up, speed-up against {BenchVariant.Baseline}");
        var roles = results.SelectMany(r => r.Busy.Keys).Distinct().ToArray();
        var table = new Table().AddColumns("policy", "s / step", "train s / step", "samples/s", "tokens/s", "speed-up", "bound s / step", "efficiency", "generation share", "version lag", "vs analytic");
        foreach (var role in roles) table.AddColumn($"busy {role}");
        foreach (var r in results)
        {
            table.AddRow([r.Policy, $"{r.IterationSeconds:F1}", $"{r.TrainingSeconds:F1}", $"{r.SamplesPerSecond:F2}", $"{r.TokensPerSecond:N0}", r.SpeedUp is { } s ? $"{s:F2}x" : "", r.BoundSeconds is { } bound ? $"{bound:F1}" : "-",
                r.Efficiency is { } f ? $"{f:P0}" : "-", $"{r.GenerationShare:P0}", $"{r.VersionLag:F2}", r.PredictionError is { } e ? $"{e:+0.0%;-0.0%}" : "", .. roles.Select(role => r.Busy.TryGetValue(role, out var b) ? $"{b:P0}" : "")]);
        }
        AnsiConsole.Write(table);
        if (results.Any(r => r.CostPerHour is not null))
        {
            // Cost-effectiveness as StreamRL reports it: trained samples per unit of cost, at the workload's prices per device-hour.
            var cost = new Table().AddColumns("policy", "devices", "cost / hour", "trained samples / unit cost");
            foreach (var r in results) cost.AddRow(r.Policy, Markup.Escape(r.Devices), r.CostPerHour is { } c ? $"{c:N1}" : "-", r.SamplesPerCost is { } e ? $"{e:N1}" : "-");
            AnsiConsole.Write(cost);
        }
        var control = new Table().AddColumns("policy", "grain calls/s", "activations", "no device busy", "wall s / iteration", "timeline");
        foreach (var r in results) control.AddRow(r.Policy, $"{r.GrainCallsPerSecond:N0}", $"{r.Activations:N0}", $"{r.ControlPlaneShare:P1}", $"{r.WallSecondsPerIteration:F2}", Markup.Escape(r.Timeline));
        AnsiConsole.Write(control);
    }

    internal static string Timeline(IterationMetrics m, double seconds, string caption)
    {
        var order = TimelineAnalysis.Roles.ToList();
        var rows = m.Timeline.OrderBy(t => order.IndexOf(TimelineAnalysis.Role(t.Holder))).ThenBy(t => t.Holder.Length).ThenBy(t => t.Holder, StringComparer.Ordinal)
            .Select(t => (Label(t.Holder), (IReadOnlyList<TimelineSvgBar>)t.Bars.Select(b =>
                new TimelineSvgBar(b.Start, b.End, Colour(b.Stage), $"{b.Stage} {b.Start:F2}-{b.End:F2} s")).ToArray())).ToArray();
        return TimelineSvg.Draw(rows, seconds, $"{caption}; blue: generation, orange: scoring, green: training, grey: weights, red: role switch");
    }

    /// <summary>A timeline row's name: the key without its job ("g3", "actor/0"), or a colocated device's ("d3").</summary>
    private static string Label(string holder) => holder.Contains('@') ? holder[(holder.LastIndexOf('/') + 1)..] : holder[(holder.IndexOf('/') + 1)..];

    private static string Colour(string stage) => stage switch
    {
        "generation" => "#6fa8dc", "scoring" => "#f6b26b", "training" => "#93c47d", "switch" => "#e06666", _ => "#999999",
    };
}
