using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using Grains.Interfaces.Rl;
using Testing;
using Xunit;

namespace System.Tests;

/// <summary>`actors report` on a 300-step metrics file, its page opened in headless Chromium as a browser opens it.</summary>
public sealed class ReportTests : IDisposable
{
    private readonly string folder = Path.Combine(Path.GetTempPath(), $"report-{Guid.NewGuid():N}");

    public ReportTests() => Directory.CreateDirectory(Path.Combine(folder, "report-job"));

    public void Dispose() => Directory.Delete(folder, recursive: true);

    /// <summary>An asynchronous job's 300 steps, every figure a function of the step, evaluated every 10.</summary>
    private static IterationMetrics Step(int i) => new()
    {
        Iteration = i, RewardMean = i == 0 ? 0 : 0.2 + 0.6 * i / 300.0, HeldOutAccuracy = i % 10 == 0 ? i / 400.0 : null, Kl = i * 1e-4, Entropy = 1.5 - i / 600.0,
        LengthMean = 40 + i / 10.0, LengthP50 = 38 + i / 10, LengthP99 = 90 + i / 5, SamplesPerSecond = 12.5 + Math.Sin(i), VersionLagMean = i == 0 ? 0 : 0.75, VersionLagMax = i == 0 ? 0 : 1,
        DeviceBusy = new() { ["job/g0"] = 0.8, ["job/actor/0"] = 0.4 + i / 1000.0 },
        Timeline = i == 300 ? [new DeviceTimeline("report-job/g0", [new TimelineBar(0, 2.5, "generation")]), new DeviceTimeline("report-job/actor/0", [new TimelineBar(2.5, 4, "training")])] : [],
    };

    [Fact]
    public async Task A_300_step_report_is_a_page_under_2_MB_whose_charts_a_browser_draws_and_whose_numbers_are_the_metrics_files()
    {
        var file = Path.Combine(folder, "report-job", "metrics.jsonl");
        var metrics = Enumerable.Range(0, 301).Select(Step).ToArray();
        await File.WriteAllLinesAsync(file, metrics.Select(m => JsonSerializer.Serialize(m, new JsonSerializerOptions(JsonSerializerDefaults.Web))));
        var page = Path.Combine(folder, "report.html");

        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), ["report", file, "--out", page], folder, TimeSpan.FromMinutes(2));

        exit.Should().Be(0, output);
        new FileInfo(page).Length.Should().BeLessThan(2 * 1024 * 1024);
        var dom = Browse(page);
        var images = int.Parse(Regex.Match(dom, @"data-images=""(\d+)""").Groups[1].Value);
        images.Should().Be(7, "reward, held-out accuracy, KL and entropy, length, throughput, device busy, staleness");
        Regex.Match(dom, @"data-images-loaded=""(\d+)""").Groups[1].Value.Should().Be("7", "every chart decoded and drawn");
        dom.Should().Contain("<svg", "the last step's device timeline");
        var rows = Regex.Matches(dom, @"<tr data-iteration=""(\d+)""><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td>");
        rows.Should().HaveCount(301);
        foreach (Match row in rows)
        {
            var m = metrics[int.Parse(row.Groups[1].Value)];
            double.Parse(row.Groups[2].Value, CultureInfo.InvariantCulture).Should().Be(m.RewardMean);
            (row.Groups[3].Value.Length == 0 ? (double?)null : double.Parse(row.Groups[3].Value, CultureInfo.InvariantCulture)).Should().Be(m.HeldOutAccuracy);
        }
    }

    [Fact]
    public async Task Two_runs_compared_are_one_page_of_their_curves_with_each_evaluation_side_by_side_their_tail_means_and_the_charts_as_png_files()
    {
        // A synchronous run and an asynchronous one of 300 steps: the second's accuracy 0.02 below the first's at
        // every evaluation from 200 on, so over the last ten (210-300) its mean is 2 points below.
        var files = new[] { "sync", "async" }.Select(run => Path.Combine(folder, run, "metrics.jsonl")).ToArray();
        var sync = Enumerable.Range(0, 301).Select(i => Step(i) with { VersionLagMean = 0, VersionLagMax = 0 }).ToArray();
        var async = Enumerable.Range(0, 301).Select(i => Step(i) with { HeldOutAccuracy = Step(i).HeldOutAccuracy - (i >= 200 && i % 10 == 0 ? 0.02 : 0) }).ToArray();
        foreach (var (file, metrics) in files.Zip(new[] { sync, async }))
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
            await File.WriteAllLinesAsync(file, metrics.Select(m => JsonSerializer.Serialize(m, new JsonSerializerOptions(JsonSerializerDefaults.Web))));
        }
        var (page, pngs) = (Path.Combine(folder, "compared.html"), Path.Combine(folder, "charts"));

        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), ["report", .. files, "--out", page, "--png", pngs], folder, TimeSpan.FromMinutes(2));

        exit.Should().Be(0, output);
        Directory.GetFiles(pngs).Select(Path.GetFileName).Should().BeEquivalentTo(["held-out-accuracy.png", "reward-mean-per-step.png", "staleness-mean-lag.png", "seconds-per-step.png"]);
        Directory.GetFiles(pngs).Should().OnlyContain(f => File.ReadAllBytes(f).Take(4).SequenceEqual(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }));
        var dom = Browse(page);
        (Regex.Match(dom, @"data-images=""(\d+)""").Groups[1].Value, Regex.Match(dom, @"data-images-loaded=""(\d+)""").Groups[1].Value).Should().Be(("4", "4"));
        var rows = Regex.Matches(dom, @"<tr data-iteration=""(\d+)""><td>\d+</td><td>([^<]*)</td><td>([^<]*)</td></tr>");
        rows.Should().HaveCount(31, "iteration 0 and every tenth");
        foreach (Match row in rows)
        {
            var i = int.Parse(row.Groups[1].Value);
            double.Parse(row.Groups[2].Value, CultureInfo.InvariantCulture).Should().Be(sync[i].HeldOutAccuracy!.Value);
            double.Parse(row.Groups[3].Value, CultureInfo.InvariantCulture).Should().Be(async[i].HeldOutAccuracy!.Value);
        }
        // (210 + 220 + ... + 300) / 10 / 400 = 0.6375 for the first; 0.6175 for the second; -2 points.
        var tail = Regex.Match(dom, @"<tr id=""tail-mean""><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td>");
        double.Parse(tail.Groups[1].Value, CultureInfo.InvariantCulture).Should().BeApproximately(0.6375, 1e-12);
        double.Parse(tail.Groups[2].Value, CultureInfo.InvariantCulture).Should().BeApproximately(0.6175, 1e-12);
        double.Parse(Regex.Match(dom, @"<tr id=""tail-gap""><td>[^<]*</td><td>[^<]*</td><td>([^<]*)</td>").Groups[1].Value, CultureInfo.InvariantCulture).Should().BeApproximately(-2, 1e-9);
    }

    [Fact]
    public async Task A_tail_of_no_evaluations_is_refused_naming_the_option()
    {
        var (exit, _, output) = await ChildProcess.RunAsync(RepositoryPaths.BuiltAssembly("Client", "actors.dll"), ["report", "a.jsonl", "b.jsonl", "--tail", "0"], folder, TimeSpan.FromMinutes(2));

        exit.Should().NotBe(0);
        output.Should().Contain("--tail must be at least 1");
    }

    [Fact]
    public void A_dpo_jobs_report_draws_its_loss_margins_and_pairs_ranked_right_not_the_rl_curves()
    {
        // Ten DPO steps, evaluated every 5 (and at the start).
        var metrics = Enumerable.Range(0, 11).Select(i => new IterationMetrics
        {
            Iteration = i, HeldOutAccuracy = i % 5 == 0 ? 0.2 + i / 100.0 : null, SamplesPerSecond = i == 0 ? 0 : 200,
            DeviceBusy = i == 0 ? [] : new() { ["job/actor/0"] = 0.4 },
            Preference = new PreferenceReport
            {
                Pairs = i == 0 ? 0 : 64, Loss = 0.69 - i / 100.0, Margin = i / 50.0, Accuracy = 0.5 + i / 40.0,
                HeldOutLoss = i % 5 == 0 ? 0.69 - i / 200.0 : null, HeldOutMargin = i % 5 == 0 ? i / 100.0 : null, HeldOutAccuracy = i % 5 == 0 ? 0.5 + i / 50.0 : null,
            },
        }).ToArray();

        var charts = Client.Report.ReportCharts.Draw(metrics);

        charts.Select(c => c.Title).Should().Equal("DPO loss (mean per step)", "Implicit reward margin", "Pairs ranked right", "Held-out accuracy", "Throughput", "Device busy (mean over devices)");
        charts.Should().OnlyContain(c => c.Png.Length > 1000 && c.Png[1] == (byte)'P' && c.Png[2] == (byte)'N' && c.Png[3] == (byte)'G');
    }

    [Fact]
    public void A_bench_page_compares_its_policies_in_charts_a_browser_draws_with_their_table_and_timelines()
    {
        Client.Commands.BenchCommand.PolicyResult Result(string policy, double seconds, double? speedUp) => new()
        {
            Policy = policy, IterationSeconds = seconds, TrainingSeconds = seconds / 2, SamplesPerSecond = 64 / seconds, TokensPerSecond = 6400 / seconds, SpeedUp = speedUp,
            GenerationShare = 0.5, GrainCallsPerSecond = 100, Activations = 10, ControlPlaneShare = 0.01, WallSecondsPerIteration = 1, Devices = "8 H800",
        };
        IterationMetrics[] Steps(double seconds) => [.. Enumerable.Range(2, 5).Select(i => Step(300) with
        {
            Iteration = i, IterationSeconds = seconds, TimeScale = 1, Ledger = new StepLedger { Created = 64, Generated = 64, Scored = 64, Trained = 64 },
        })];
        var page = Path.Combine(folder, "bench.html");

        File.WriteAllText(page, Client.Report.ReportPage.Bench("tiny-workload", [(Result("colocated-barrier", 20, 1), Steps(20)), (Result("async-1", 10, 2), Steps(10))]));

        var dom = Browse(page);
        (Regex.Match(dom, @"data-images=""(\d+)""").Groups[1].Value, Regex.Match(dom, @"data-images-loaded=""(\d+)""").Groups[1].Value).Should().Be(("3", "3"));
        Regex.Matches(dom, "<svg").Should().HaveCount(2, "each policy's last timeline");
        Regex.Match(dom, @"<tr data-policy=""async-1""><td>async-1</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>").Groups.Values.Skip(1).Select(g => g.Value)
            .Should().Equal("10", "6.4", "2");
    }

    /// <summary>The page's document after it loaded in headless Chromium (the Debian package infra/setup.sh installs).</summary>
    private static string Browse(string page)
    {
        var start = new ProcessStartInfo("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000", "--dump-dom", new Uri(page).AbsoluteUri])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var browser = Process.Start(start) ?? throw new InvalidOperationException("chromium did not start: run infra/setup.sh");
        var dom = browser.StandardOutput.ReadToEndAsync();
        browser.StandardError.ReadToEndAsync();
        browser.WaitForExit(120_000).Should().BeTrue("chromium loads a local page in well under 2 minutes");
        return dom.Result;
    }
}
