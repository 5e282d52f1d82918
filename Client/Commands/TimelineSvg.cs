using System.Globalization;
using System.Net;
using System.Text;

namespace Client.Commands;

/// <summary>A bar of a timeline: where it runs, its colour and its tooltip.</summary>
public sealed record TimelineSvgBar(double Start, double End, string Colour, string Title);

/// <summary>Draws timelines as SVG: one labelled row per device, one bar per task, a caption below.</summary>
public static class TimelineSvg
{
    public static string Draw(IReadOnlyList<(string Label, IReadOnlyList<TimelineSvgBar> Bars)> rows, double end, string caption)
    {
        const double width = 1400, left = 130;
        var row = rows.Count > 64 ? 8.0 : 22.0;
        var scale = (width - left - 10) / Math.Max(end, 1e-9);
        var svg = new StringBuilder();
        svg.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{rows.Count * row + 34}\" font-family=\"sans-serif\" font-size=\"{Math.Min(10, row - 1)}\">");
        for (var d = 0; d < rows.Count; d++)
        {
            svg.Append(CultureInfo.InvariantCulture, $"<text x=\"4\" y=\"{d * row + row * 0.75:F1}\">{WebUtility.HtmlEncode(rows[d].Label)}</text>");
            foreach (var b in rows[d].Bars)
            {
                svg.Append(CultureInfo.InvariantCulture,
                    $"<rect x=\"{left + b.Start * scale:F2}\" y=\"{d * row + 1:F1}\" width=\"{Math.Max(0.5, (b.End - b.Start) * scale):F2}\" height=\"{row - 2:F1}\" fill=\"{b.Colour}\"><title>{WebUtility.HtmlEncode(b.Title)}</title></rect>");
            }
        }
        svg.Append(CultureInfo.InvariantCulture, $"<text x=\"{left}\" y=\"{rows.Count * row + 22:F1}\">{WebUtility.HtmlEncode(caption)}</text></svg>");
        return svg.ToString();
    }
}
