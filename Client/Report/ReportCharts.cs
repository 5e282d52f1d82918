using Grains.Interfaces.Rl;
using ScottPlot;

namespace Client.Report;

/// <summary>A job's curves as PNG charts (ScottPlot), one figure each, iterations along the x axis.</summary>
public static class ReportCharts
{
    private const int Width = 720, Height = 300;

    /// <summary>A chart with its legend beside it is wider by this much, so its plot keeps about the width of one without.</summary>
    private const int LegendWidth = 260;

    /// <summary>
    /// Each chart's title and PNG bytes; charts with nothing to show (no held-out evaluation, a synchronous job's
    /// staleness) are left out. A DPO job's (its steps have preference figures) are its own: loss, margins, pairs ranked right.
    /// </summary>
    public static IReadOnlyList<(string Title, byte[] Png)> Draw(IReadOnlyList<IterationMetrics> metrics)
    {
        var steps = metrics.Where(m => m.Iteration > 0).ToArray();
        double[] X(IEnumerable<IterationMetrics> of) => [.. of.Select(m => (double)m.Iteration)];
        if (steps.Length > 0 && steps.All(m => m.Preference is not null)) return Preference(metrics, steps, X);
        var charts = new List<(string, byte[])>
        {
            Chart("Reward (mean per step)", "reward", ("mean", X(steps), [.. steps.Select(m => m.RewardMean)])),
        };
        var evaluated = metrics.Where(m => m.HeldOutAccuracy is not null).ToArray();
        if (evaluated.Length > 0) charts.Add(Chart("Held-out accuracy", "accuracy", ("held-out", X(evaluated), [.. evaluated.Select(m => m.HeldOutAccuracy!.Value)])));
        charts.Add(Chart("KL to the reference and entropy", "nats", ("KL", X(steps), [.. steps.Select(m => m.Kl)]), ("entropy", X(steps), [.. steps.Select(m => m.Entropy)])));
        charts.Add(Chart("Response length", "tokens", ("p50", X(steps), [.. steps.Select(m => (double)m.LengthP50)]),
            ("mean", X(steps), [.. steps.Select(m => m.LengthMean)]), ("p99", X(steps), [.. steps.Select(m => (double)m.LengthP99)])));
        charts.Add(Chart("Throughput", "trained samples / s", ("samples/s", X(steps), [.. steps.Select(m => m.SamplesPerSecond)])));
        charts.Add(Chart("Device busy (mean over devices)", "share of the step", ("busy", X(steps), [.. steps.Select(MeanBusy)])));
        if (steps.Any(m => m.VersionLagMax > 0))
        {
            charts.Add(Chart("Staleness", "weights versions behind", ("mean lag", X(steps), [.. steps.Select(m => m.VersionLagMean)]),
                ("max lag", X(steps), [.. steps.Select(m => (double)m.VersionLagMax)])));
        }
        return charts;
    }

    /// <summary>A DPO job's charts: its loss, the implicit reward margin and the share of pairs ranked right (trained and held out), the held-out greedy accuracy, throughput and device busy.</summary>
    private static IReadOnlyList<(string Title, byte[] Png)> Preference(IReadOnlyList<IterationMetrics> metrics, IterationMetrics[] steps, Func<IEnumerable<IterationMetrics>, double[]> x)
    {
        var heldOut = metrics.Where(m => m.Preference?.HeldOutAccuracy is not null).ToArray();
        var charts = new List<(string, byte[])>
        {
            Chart("DPO loss (mean per step)", "loss", ("trained pairs", x(steps), [.. steps.Select(m => m.Preference!.Loss)]),
                ("held-out pairs", x(heldOut), [.. heldOut.Select(m => m.Preference!.HeldOutLoss!.Value)])),
            Chart("Implicit reward margin", "beta x log-ratio", ("trained pairs", x(steps), [.. steps.Select(m => m.Preference!.Margin)]),
                ("held-out pairs", x(heldOut), [.. heldOut.Select(m => m.Preference!.HeldOutMargin!.Value)])),
            Chart("Pairs ranked right", "share of pairs", ("trained pairs", x(steps), [.. steps.Select(m => m.Preference!.Accuracy)]),
                ("held-out pairs", x(heldOut), [.. heldOut.Select(m => m.Preference!.HeldOutAccuracy!.Value)])),
        };
        var evaluated = metrics.Where(m => m.HeldOutAccuracy is not null).ToArray();
        if (evaluated.Length > 0) charts.Add(Chart("Held-out accuracy", "accuracy", ("held-out", x(evaluated), [.. evaluated.Select(m => m.HeldOutAccuracy!.Value)])));
        charts.Add(Chart("Throughput", "trained pairs / s", ("pairs/s", x(steps), [.. steps.Select(m => m.SamplesPerSecond)])));
        charts.Add(Chart("Device busy (mean over devices)", "share of the step", ("busy", x(steps), [.. steps.Select(MeanBusy)])));
        return charts;
    }

    public static double MeanBusy(IterationMetrics m) => m.DeviceBusy.Count == 0 ? 0 : m.DeviceBusy.Values.Average();

    /// <summary>
    /// Each policy's steps of a bench run side by side: emulated seconds a step, trained samples a second and
    /// mean device busy, one line per policy.
    /// </summary>
    public static IReadOnlyList<(string Title, byte[] Png)> Compare(IReadOnlyList<(string Policy, IterationMetrics[] Steps)> policies)
    {
        static double Seconds(IterationMetrics m) => m.IterationSeconds * m.TimeScale;
        return
        [
            Chart("Seconds per step (emulated)", "s", Series(policies, Seconds)),
            Chart("Trained samples per second", "samples / s", Series(policies, m => (m.Ledger?.Trained ?? 0) / Seconds(m))),
            Chart("Device busy (mean over devices)", "share of the step", Series(policies, MeanBusy)),
        ];
    }

    /// <summary>
    /// Several runs of a job side by side (the staleness sweep's learning curves, seeds against each other), one
    /// line per run: held-out accuracy at each evaluation, reward, and, when a run is asynchronous, its mean
    /// version lag; seconds a step (emulated seconds for an emulated run).
    /// </summary>
    public static IReadOnlyList<(string Title, byte[] Png)> Runs(IReadOnlyList<(string Run, IterationMetrics[] Metrics)> runs)
    {
        var steps = runs.Select(r => (r.Run, r.Metrics.Where(m => m.Iteration > 0).ToArray())).ToArray();
        var charts = new List<(string, byte[])>();
        if (runs.Any(r => r.Metrics.Any(m => m.HeldOutAccuracy is not null)))
        {
            charts.Add(Chart("Held-out accuracy", "accuracy", Edge.Right,
                Series([.. runs.Select(r => (r.Run, r.Metrics.Where(m => m.HeldOutAccuracy is not null).ToArray()))], m => m.HeldOutAccuracy!.Value)));
        }
        // Runs' lines cross everywhere: their legend goes beside the plot, not over it.
        charts.Add(Chart("Reward (mean per step)", "reward", Edge.Right, Series(steps, m => m.RewardMean)));
        if (steps.Any(r => r.Item2.Any(m => m.VersionLagMax > 0))) charts.Add(Chart("Staleness (mean lag)", "weights versions behind", Edge.Right, Series(steps, m => m.VersionLagMean)));
        charts.Add(Chart("Seconds per step", "s", Edge.Right, Series(steps, m => m.IterationSeconds * m.TimeScale)));
        return charts;
    }

    /// <summary>A line per named run: its steps' iterations and <paramref name="value"/> of each.</summary>
    private static (string, double[], double[])[] Series(IReadOnlyList<(string Name, IterationMetrics[] Steps)> runs, Func<IterationMetrics, double> value) =>
        [.. runs.Select(r => (r.Name, r.Steps.Select(m => (double)m.Iteration).ToArray(), r.Steps.Select(value).ToArray()))];

    private static (string, byte[]) Chart(string title, string yLabel, params (string Legend, double[] X, double[] Y)[] series) => Chart(title, yLabel, null, series);

    /// <param name="legendBeside">Where the legend goes outside the plot; null: inside, upper left.</param>
    private static (string, byte[]) Chart(string title, string yLabel, Edge? legendBeside, params (string Legend, double[] X, double[] Y)[] series)
    {
        var plot = new Plot();
        foreach (var (legend, x, y) in series)
        {
            var line = plot.Add.Scatter(x, y);
            line.LegendText = legend;
            line.MarkerSize = x.Length > 60 ? 0 : 4;
        }
        plot.Title(title);
        plot.XLabel("iteration");
        plot.YLabel(yLabel);
        if (series.Length > 1 && legendBeside is { } edge) plot.ShowLegend(edge);
        else if (series.Length > 1) plot.ShowLegend(Alignment.UpperLeft);
        return (title, plot.GetImageBytes(legendBeside is null ? Width : Width + LegendWidth, Height, ImageFormat.Png));
    }
}
