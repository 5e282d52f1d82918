using System.Globalization;
using System.Net;
using System.Text;
using Client.Commands;
using Grains.Interfaces.Rl;

namespace Client.Report;

/// <summary>
/// One HTML page for a job (<c>actors report</c>): its charts as PNG images inside the page, the last step's
/// device timeline when it has one, and a table of every step's figures. Self-contained (images as data
/// URIs), so it opens anywhere; once loaded it marks on its body how many of its images a browser drew.
/// </summary>
public static class ReportPage
{
    /// <param name="charts">The job's charts (<see cref="ReportCharts.Draw"/>).</param>
    public static string Build(string job, IReadOnlyList<IterationMetrics> metrics, IReadOnlyList<(string Title, byte[] Png)> charts)
    {
        var page = new StringBuilder();
        page.Append(Head(job)).Append(CultureInfo.InvariantCulture, $"<p>{metrics.Count(m => m.Iteration > 0)} steps.</p>\n");
        Images(page, charts);
        if (metrics.LastOrDefault(m => m.Timeline.Length > 0) is { } last)
        {
            page.Append(CultureInfo.InvariantCulture, $"<h2>Device timeline, iteration {last.Iteration}</h2>\n");
            page.Append(BenchCommand.Timeline(last, last.Timeline.SelectMany(t => t.Bars).Select(b => b.End).DefaultIfEmpty(1).Max(), $"iteration {last.Iteration}")).Append('\n');
        }
        page.Append("<h2>Steps</h2>\n<table id=\"steps\"><tr><th>iteration</th><th>reward</th><th>held-out accuracy</th><th>KL</th><th>entropy</th><th>length mean</th><th>samples/s</th><th>device busy</th><th>mean lag</th></tr>\n");
        foreach (var m in metrics)
        {
            page.Append(CultureInfo.InvariantCulture, $"<tr data-iteration=\"{m.Iteration}\"><td>{m.Iteration}</td><td>{m.RewardMean:R}</td><td>{(m.HeldOutAccuracy is { } a ? a.ToString("R", CultureInfo.InvariantCulture) : "")}</td>");
            page.Append(CultureInfo.InvariantCulture, $"<td>{m.Kl:R}</td><td>{m.Entropy:R}</td><td>{m.LengthMean:R}</td><td>{m.SamplesPerSecond:R}</td><td>{ReportCharts.MeanBusy(m):R}</td><td>{m.VersionLagMean:R}</td></tr>\n");
        }
        page.Append("</table>\n").Append(Loaded);
        return page.ToString();
    }

    /// <summary>
    /// A bench run's page: its policies' steps compared in charts, the table of their steady state, and each
    /// policy's last device timeline.
    /// </summary>
    public static string Bench(string workload, IReadOnlyList<(BenchCommand.PolicyResult Result, IterationMetrics[] Steps)> policies)
    {
        var page = new StringBuilder();
        page.Append(Head($"bench {workload}"));
        Images(page, ReportCharts.Compare([.. policies.Select(p => (p.Result.Policy, p.Steps))]));
        page.Append("<h2>Steady state</h2>\n<table id=\"policies\"><tr><th>policy</th><th>s / step</th><th>samples / s</th><th>speed-up</th><th>efficiency</th></tr>\n");
        foreach (var (r, _) in policies)
        {
            page.Append(CultureInfo.InvariantCulture, $"<tr data-policy=\"{Html(r.Policy)}\"><td>{Html(r.Policy)}</td><td>{r.IterationSeconds:R}</td><td>{r.SamplesPerSecond:R}</td>");
            page.Append(CultureInfo.InvariantCulture, $"<td>{(r.SpeedUp is { } s ? s.ToString("R", CultureInfo.InvariantCulture) : "")}</td><td>{(r.Efficiency is { } e ? e.ToString("R", CultureInfo.InvariantCulture) : "")}</td></tr>\n");
        }
        page.Append("</table>\n");
        foreach (var (r, steps) in policies.Where(p => p.Steps.Length > 0 && p.Steps[^1].Timeline.Length > 0))
        {
            var last = steps[^1];
            var seconds = last.IterationSeconds * last.TimeScale;
            page.Append(CultureInfo.InvariantCulture, $"<h2>{Html(r.Policy)}: iteration {last.Iteration}</h2>\n");
            page.Append(BenchCommand.Timeline(last, seconds, $"{r.Policy}: iteration {last.Iteration}, {seconds:F1} emulated s")).Append('\n');
        }
        page.Append(Loaded);
        return page.ToString();
    }

    /// <summary>
    /// Several runs compared (<c>actors report</c> with more than one job or file): their charts
    /// (<see cref="ReportCharts.Runs"/>), then held-out accuracy at each evaluation, a column per run, closed by each
    /// run's mean over its last <paramref name="tail"/> evaluations and that mean's gap to the first run's, in points.
    /// </summary>
    public static string Runs(IReadOnlyList<(string Run, IterationMetrics[] Metrics)> runs, IReadOnlyList<(string Title, byte[] Png)> charts, int tail)
    {
        var page = new StringBuilder();
        page.Append(Head(string.Join(" vs ", runs.Select(r => r.Run))));
        Images(page, charts);
        var iterations = runs.SelectMany(r => r.Metrics.Where(m => m.HeldOutAccuracy is not null).Select(m => m.Iteration)).Distinct().Order().ToArray();
        page.Append("<h2>Held-out accuracy</h2>\n<table id=\"accuracy\"><tr><th>iteration</th>");
        foreach (var (run, _) in runs) page.Append(CultureInfo.InvariantCulture, $"<th>{Html(run)}</th>");
        page.Append("</tr>\n");
        foreach (var i in iterations)
        {
            page.Append(CultureInfo.InvariantCulture, $"<tr data-iteration=\"{i}\"><td>{i}</td>");
            foreach (var (_, metrics) in runs)
            {
                var accuracy = metrics.LastOrDefault(m => m.Iteration == i && m.HeldOutAccuracy is not null)?.HeldOutAccuracy;
                page.Append(CultureInfo.InvariantCulture, $"<td>{(accuracy is { } a ? a.ToString("R", CultureInfo.InvariantCulture) : "")}</td>");
            }
            page.Append("</tr>\n");
        }
        var means = runs.Select(r => TailMean(r.Metrics, tail)).ToArray();
        page.Append(CultureInfo.InvariantCulture, $"<tr id=\"tail-mean\"><td>mean of the last {tail}</td>");
        foreach (var mean in means) page.Append(CultureInfo.InvariantCulture, $"<td>{(mean is { } m ? m.ToString("R", CultureInfo.InvariantCulture) : "")}</td>");
        page.Append(CultureInfo.InvariantCulture, $"</tr>\n<tr id=\"tail-gap\"><td>gap to {Html(runs[0].Run)}, points</td>");
        foreach (var mean in means) page.Append(CultureInfo.InvariantCulture, $"<td>{(mean is { } m && means[0] is { } first ? (100 * (m - first)).ToString("R", CultureInfo.InvariantCulture) : "")}</td>");
        page.Append("</tr>\n</table>\n").Append(Loaded);
        return page.ToString();
    }

    /// <summary>The mean held-out accuracy over a run's last <paramref name="tail"/> evaluations (all it has, if fewer); null when it has none.</summary>
    public static double? TailMean(IReadOnlyList<IterationMetrics> metrics, int tail)
    {
        var evaluated = metrics.Where(m => m.HeldOutAccuracy is not null).TakeLast(tail).ToArray();
        return evaluated.Length == 0 ? null : evaluated.Average(m => m.HeldOutAccuracy!.Value);
    }

    private static void Images(StringBuilder page, IReadOnlyList<(string Title, byte[] Png)> charts)
    {
        foreach (var (title, png) in charts)
        {
            page.Append(CultureInfo.InvariantCulture, $"<img alt=\"{Html(title)}\" src=\"data:image/png;base64,{Convert.ToBase64String(png)}\">\n");
        }
    }

    private static string Head(string title) => $$"""
        <!DOCTYPE html>
        <html><head><meta charset="utf-8"><title>{{Html(title)}}</title>
        <style>body{font-family:sans-serif;margin:24px}img{display:block;margin:12px 0}table{border-collapse:collapse;font-size:12px}td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style>
        </head><body>
        <h1>{{Html(title)}}</h1>

        """;

    /// <summary>The page's end: once loaded, it marks on its body how many images it has and how many were drawn.</summary>
    private const string Loaded = """
        <script>
        window.addEventListener('load', () => {
          const drawn = [...document.images].filter(i => i.complete && i.naturalWidth > 0);
          document.body.dataset.images = document.images.length;
          document.body.dataset.imagesLoaded = drawn.length;
        });
        </script>
        </body></html>

        """;

    private static string Html(string text) => WebUtility.HtmlEncode(text);
}
