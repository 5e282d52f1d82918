using Grains.Interfaces.Jobs;
namespace Grains.Interfaces.Cluster;

/// <summary>
/// A silo's devices written the way admins write them: <c>cpu</c>, <c>gpu:0-7</c>, <c>gpu:0,2,4-5</c>,
/// several kinds separated by <c>;</c>. Each device is named <c>kind:index</c>.
/// </summary>
public static class DeviceSpec
{
    /// <summary>The most devices one silo declares (an emulated silo stands for a cluster; more is a typo, and would not fit in memory).</summary>
    public const int MaxDevices = 65_536;

    public static IReadOnlyList<string> Parse(string spec)
    {
        if (string.IsNullOrWhiteSpace(spec)) throw new FormatException("the device list is empty (write e.g. cpu, gpu:0-7)");
        var devices = new List<string>();
        foreach (var part in spec.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = part.IndexOf(':');
            var kind = colon < 0 ? part : part[..colon];
            if (kind.Length == 0 || !kind.All(char.IsAsciiLetterOrDigit)) throw new FormatException($"{Quoted.Of(part)}: a device kind is letters and digits, like gpu or cpu");
            if (colon < 0)
            {
                devices.Add($"{kind}:0");
                continue;
            }
            foreach (var range in part[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries))
            {
                var bounds = range.Split('-');
                if (bounds.Length > 2 || !bounds.All(b => int.TryParse(b, out var i) && i >= 0))
                {
                    throw new FormatException($"{Quoted.Of(part)}: {Quoted.Of(range)} is not an index or a range like 0-7");
                }
                var (first, last) = (int.Parse(bounds[0]), int.Parse(bounds[^1]));
                if (last < first) throw new FormatException($"{Quoted.Of(part)}: the range {Quoted.Of(range)} runs backwards");
                if ((long)last - first + 1 + devices.Count > MaxDevices) throw new FormatException($"{Quoted.Of(part)}: more than {MaxDevices:N0} devices on one silo");
                devices.AddRange(Enumerable.Range(first, last - first + 1).Select(i => $"{kind}:{i}"));
            }
        }
        var repeated = devices.GroupBy(d => d).FirstOrDefault(g => g.Count() > 1);
        return repeated is null ? devices : throw new FormatException($"device {repeated.Key} is listed twice in {Quoted.Of(spec)}");
    }
}
