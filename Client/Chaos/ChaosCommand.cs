using System.ComponentModel;
using System.Text;
using Client.Benchmarks;
using Client.Commands;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Silo.Tls;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Chaos;

/// <summary>The kind of silo a chaos scenario kills: one holding a generation worker, the actor's trainer, the scoring models, or the job grain.</summary>
public enum ChaosKill { None, Generation, Training, Inference, Job }

/// <summary>
/// The chaos benchmark: the same job on a fresh cluster of real silo processes (two generation, one
/// inference, two training) once without a kill, then once per kind of silo, SIGKILLed mid-step and
/// replaced by a new process as a supervisor would. Per run: whether the job finished, how long after the
/// kill its next iteration was done, the time it cost, samples lost and sent again, and whether its final
/// weights equal the run without a kill.
/// </summary>
public sealed class ChaosCommand : AsyncCommand<ChaosCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandArgument(0, "[job.json]")]
        [Description("The job to run (default infra/jobs/ppo-chaos.json).")]
        public string? File { get; init; }

        [CommandOption("--kills")]
        [Description("Comma-separated kinds of silo to kill, one run each: generation, training, inference, job.")]
        [DefaultValue("generation,training,inference,job")]
        public string Kills { get; init; } = "generation,training,inference,job";

        [CommandOption("--kill-at")]
        [Description("The iteration during which the silo is killed.")]
        [DefaultValue(3)]
        public int KillAt { get; init; } = 3;

        [CommandOption("--work")]
        [Description("Where the silos' logs and the certificate go (default: a new temporary folder, kept).")]
        public string? Work { get; init; }

        [CommandOption("--soak")]
        [Description("Instead of one run per kind: the soak, one run of this many minutes with a random silo killed every --kill-every seconds, memory and activations read every half minute.")]
        public int? Soak { get; init; }

        [CommandOption("--kill-every")]
        [Description("The soak: seconds between kills; an emulated workload: emulated seconds between kills.")]
        [DefaultValue(120)]
        public int KillEvery { get; init; } = 120;

        [CommandOption("--policy")]
        [Description("An emulated workload: how it runs, as bench names it (async-k, async-k-partial, streaming, ...).")]
        [DefaultValue("async-4-partial")]
        public string Policy { get; init; } = "async-4-partial";

        [CommandOption("--steps")]
        [Description("An emulated workload: steps measured (after the policy's warm-up), with kills and without.")]
        [DefaultValue(30)]
        public int Steps { get; init; } = 30;

        [CommandOption("--machine-devices")]
        [Description("An emulated workload (chaos or soak): devices per silo process (a machine).")]
        [DefaultValue(LocalCluster.DevicesPerMachine)]
        public int MachineDevices { get; init; } = LocalCluster.DevicesPerMachine;

        [CommandOption("--spares")]
        [Description("An emulated workload: spare machines per role (a generation and a training machine of --machine-devices devices, and an inference silo, each), with kills and without.")]
        [DefaultValue(0)]
        public int Spares { get; init; }

        [CommandOption("--time-scale")]
        [Description("An emulated workload: emulated seconds per wall second (default: the workload's).")]
        public double? TimeScale { get; init; }

        [CommandOption("--out")]
        [Description("Also write the table as Markdown to this file.")]
        public string? Out { get; init; }

        public IReadOnlyList<ChaosKill> Parsed()
        {
            var kills = new List<ChaosKill>();
            foreach (var name in Kills.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                if (!Enum.TryParse<ChaosKill>(name, ignoreCase: true, out var kill) || kill == ChaosKill.None)
                {
                    throw new ArgumentException($"--kills: {Quoted.Of(name)} is not one of generation, training, inference, job");
                }
                kills.Add(kill);
            }
            return kills;
        }
    }

    public override async Task<int> ExecuteAsync(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var kills = settings.Parsed();
        var file = settings.File ?? Path.Combine(LocalCluster.RepositoryRoot(), "infra", "jobs", "ppo-chaos.json");
        if (await JobView.LoadAsync(file, cancellationToken) is not { } spec) return 2;
        if (spec.Kind != JobKind.Rl) throw new ArgumentException($"{file}: chaos runs rl jobs");
        if (spec.Rl!.Emulated && settings.Soak is null) return await Emulated(settings, spec, cancellationToken);
        if (settings.Soak is { } soakFor && (soakFor < 1 || settings.KillEvery < 10))
        {
            throw new ArgumentException($"--soak must be at least 1 minute and --kill-every at least 10 seconds (got {soakFor}, {settings.KillEvery})");
        }
        // A soak runs the job for its minutes, whatever its iterations: --kill-at is not used.
        if (settings.Soak is null && (settings.KillAt < 1 || settings.KillAt >= spec.Iterations)) throw new ArgumentException($"--kill-at must be from 1 to {spec.Iterations - 1} (the job has {spec.Iterations} iterations)");
        var (work, certificate) = WorkFolder(settings);
        if (settings.Soak is { } soakMinutes) AnsiConsole.MarkupLineInterpolated($"[grey]chaos soak: {spec.Name} for {soakMinutes} min, a silo killed every {settings.KillEvery} s; logs in {work}[/]");
        else AnsiConsole.MarkupLineInterpolated($"[grey]chaos: {spec.Name}, {spec.Iterations} iterations, kills during iteration {settings.KillAt}; logs in {work}[/]");

        await using var cluster = await LocalCluster.StartAsync(work, certificate);
        if (settings.Soak is { } minutes)
        {
            var (soak, healthy) = await new ChaosSoak(cluster, spec, TimeSpan.FromMinutes(minutes), TimeSpan.FromSeconds(settings.KillEvery), spec.Seed, settings.MachineDevices).Run(cancellationToken);
            Console.WriteLine(soak);
            if (settings.Out is not null) await File.WriteAllTextAsync(settings.Out, soak, cancellationToken);
            return healthy ? 0 : 1;
        }
        var baseline = await new ChaosRun(cluster, spec, ChaosKill.None, settings.KillAt, null).Run(cancellationToken);
        var results = new List<ChaosResult> { baseline };
        foreach (var kill in kills) results.Add(await new ChaosRun(cluster, spec, kill, settings.KillAt, baseline).Run(cancellationToken));

        var markdown = Table(results, baseline);
        Console.WriteLine(markdown);
        if (settings.Out is not null) await File.WriteAllTextAsync(settings.Out, markdown, cancellationToken);
        return results.All(r => r.Completed && r.Lost == 0 && r.WeightsAgree) ? 0 : 1;
    }

    /// <summary>
    /// An emulated workload under a bench policy, without kills and with a random silo killed every
    /// --kill-every emulated seconds: the steady state of each side by side; passes with no sample lost and
    /// at least 90 % of the throughput without kills.
    /// </summary>
    private static async Task<int> Emulated(Settings settings, JobSpec spec, CancellationToken cancellationToken)
    {
        var variant = BenchVariant.Parse(settings.Policy);
        if (variant.Placement == RolePlacement.Colocated) throw new ArgumentException($"--policy: {settings.Policy} is colocated: every role on every device, so no silo of one role to kill; give a disaggregated one");
        if (settings.Steps is < 1 or > 1000 || settings.KillEvery < 1 || settings.TimeScale is <= 0 || settings.MachineDevices < 1 || settings.Spares is < 0 or > 4)
        {
            throw new ArgumentException($"--steps must be 1-1000, --kill-every, --time-scale and --machine-devices positive, --spares 0-4 (got {settings.Steps}, {settings.KillEvery}, {settings.TimeScale}, {settings.MachineDevices}, {settings.Spares})");
        }
        var rl = spec.Rl!;
        var workload = spec with { Iterations = settings.Steps + 1, Rl = rl with { Emulation = rl.Emulation! with { TimeScale = settings.TimeScale ?? rl.Emulation.TimeScale } } };
        var (work, certificate) = WorkFolder(settings);
        AnsiConsole.MarkupLineInterpolated($"[grey]chaos: {spec.Name} as {variant.Name}, {variant.Measured(settings.Steps)} steps measured, a silo killed every {settings.KillEvery} emulated s (time scale {workload.Rl!.Emulation!.TimeScale}); logs in {work}[/]");
        await using var cluster = await LocalCluster.StartAsync(work, certificate);
        var chaos = new EmulatedChaos(cluster, workload, variant, settings.KillEvery, spec.Seed, settings.MachineDevices, settings.Spares);
        var calm = await chaos.Run(kills: false, cancellationToken);
        var killed = await chaos.Run(kills: true, cancellationToken);
        var text = new StringBuilder();
        text.AppendLine("| run | kills | steps measured | s / step | samples/s | of the run without kills | samples lost | samples sent again | tokens they carried | taken back | replicas rebuilt | wall s |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in new[] { calm, killed })
        {
            var a = r.Account;
            text.AppendLine($"| {r.Run} | {r.Kills.Count} | {r.Steps} | {r.SecondsPerStep:F1} | {r.SamplesPerSecond:F2} | {r.SamplesPerSecond / calm.SamplesPerSecond:P1} | {a.Lost} | {a.Resent} | {a.TokensCarried} | {a.TakenBack} | {a.ReplicasRebuilt} | {r.WallSeconds:F0} |");
        }
        text.AppendLine();
        text.AppendLine($"Kills: {(killed.Kills.Count == 0 ? "none" : string.Join("; ", killed.Kills))}.");
        text.AppendLine();
        foreach (var r in new[] { calm, killed }) text.AppendLine($"Emulated seconds of each measured step, {r.Run}: {string.Join(", ", r.StepSeconds.Select(x => x.ToString("F1")))}.");
        Console.WriteLine(text);
        if (settings.Out is not null) await File.WriteAllTextAsync(settings.Out, text.ToString(), cancellationToken);
        return killed.Account.Lost == 0 && calm.Account.Lost == 0 && killed.SamplesPerSecond >= 0.9 * calm.SamplesPerSecond ? 0 : 1;
    }

    /// <summary>The folder for the silos' logs (--work, or a new temporary one, kept) and the cluster's certificate made in it.</summary>
    private static (string Work, string Certificate) WorkFolder(Settings settings)
    {
        var work = settings.Work ?? Directory.CreateTempSubdirectory("actors-chaos-").FullName;
        Directory.CreateDirectory(work);
        var certificate = Path.Combine(work, "cluster.pfx");
        ClusterCertificate.Create(certificate, "actors-chaos", TimeSpan.FromDays(1));
        return (work, certificate);
    }

    private static string Weights(ChaosResult r) =>
        (r.SameWeights ? "yes (SHA-256)" : r.WeightsDifference is { } d ? $"{(r.WeightsAgree ? "within" : "NO:")} max abs difference {d:G2}" : "NO")
        + (r.FirstDifference is { } first ? $" (metrics part at {first})" : "");

    private static string Table(IReadOnlyList<ChaosResult> results, ChaosResult baseline)
    {
        var text = new StringBuilder();
        text.AppendLine("| killed | victim (roles) | finished | kill → next iteration done | iterations 2.. | cost of the kill | samples lost | samples sent again | replicas rebuilt | replays from a checkpoint | final weights = no-kill run |");
        text.AppendLine("|---|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            text.AppendLine($"| {r.Kill.ToString().ToLowerInvariant()} | {r.Victim} | {(r.Completed ? "yes" : "NO: " + r.Message)} | "
                + $"{(r.Continued is { } c ? $"{c:F1} s" : "-")} | {r.Seconds:F1} s | {(r.Kill == ChaosKill.None ? "-" : $"{r.Seconds - baseline.Seconds:+0.0;-0.0} s")} | "
                + $"{r.Lost} | {r.Resent} | {r.Rebuilt} | {r.Replays} | {Weights(r)} |");
        }
        text.AppendLine();
        text.AppendLine($"Without a kill a step takes {baseline.StepSeconds:F1} s ({baseline.GenerationSeconds:F1} s of it generating); 'iterations 2..' is the time from the first iteration's end to the job's (the warm start before it varies more than a kill costs). "
            + "The silo is killed 30 % into the step's generation, and a new process with its roles starts at once.");
        return text.ToString();
    }
}

/// <summary>One chaos run's outcome.</summary>
public sealed record ChaosResult
{
    public required ChaosKill Kill { get; init; }
    /// <summary>The killed silo and its roles ("-" without a kill).</summary>
    public string Victim { get; init; } = "-";
    public required bool Completed { get; init; }
    public required string Message { get; init; }
    /// <summary>Seconds from the kill until the job's next iteration was done.</summary>
    public double? Continued { get; init; }
    /// <summary>Seconds from the end of the first iteration to the end of the job.</summary>
    public required double Seconds { get; init; }
    public required int Iterations { get; init; }
    public int Lost { get; init; }
    public int Resent { get; init; }
    /// <summary>Trainer replicas rebuilt from a surviving replica.</summary>
    public int Rebuilt { get; init; }
    /// <summary>Times the job went back to its last checkpoint.</summary>
    public int Replays { get; init; }
    public string? WeightsSha256 { get; init; }
    /// <summary>Mean seconds of a step, and of its generation, over the run's iterations.</summary>
    public double StepSeconds { get; init; }
    public double GenerationSeconds { get; init; }
    public bool SameWeights { get; init; } = true;
    public string? WeightsObject { get; init; }
    /// <summary>The largest difference of a final weight from the run without a kill's, where they are not the same.</summary>
    public double? WeightsDifference { get; init; }
    /// <summary>The issue's bar: bit for bit, or within the data-parallel tolerance (1e-4) where samples were generated again.</summary>
    public bool WeightsAgree => SameWeights || WeightsDifference <= Tolerance;
    public const double Tolerance = 1e-4;
    public IterationMetrics[] Metrics { get; init; } = [];
    /// <summary>Where the run's metrics first parted from the run without a kill (null: nowhere).</summary>
    public string? FirstDifference { get; init; }
}
