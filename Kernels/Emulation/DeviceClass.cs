namespace Kernels.Emulation;

/// <summary>
/// An accelerator as the cost model sees it: peak dense bf16 FLOP/s (no sparsity), memory bandwidth
/// in bytes/s and memory in bytes. Figures are the vendors' published SXM numbers.
/// </summary>
public sealed record DeviceClass(string Name, double PeakFlops, double MemoryBandwidth, double MemoryBytes)
{
    private const double Tera = 1e12, Giga = 1e9;

    public static DeviceClass H100 { get; } = new("H100", 989 * Tera, 3.35 * Tera, 80 * Giga);
    /// <summary>The H100's compute and memory with a cut-down interconnect (see <see cref="Link"/>).</summary>
    public static DeviceClass H800 { get; } = new("H800", 989 * Tera, 3.35 * Tera, 80 * Giga);
    /// <summary>A fraction of the compute with more bandwidth: cheap for memory-bound decoding.</summary>
    public static DeviceClass H20 { get; } = new("H20", 148 * Tera, 4.0 * Tera, 96 * Giga);
    public static DeviceClass A100 { get; } = new("A100", 312 * Tera, 2.039 * Tera, 80 * Giga);

    public static IReadOnlyList<DeviceClass> All { get; } = [H100, H800, H20, A100];

    public static DeviceClass Parse(string name) =>
        All.FirstOrDefault(d => string.Equals(d.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"device class {Text.Excerpt.Of(name)} is not one of {string.Join(", ", All.Select(d => d.Name))}");
}

/// <summary>A link weights travel over: bandwidth in bytes/s and one-way latency in seconds.</summary>
public sealed record Link(string Name, double Bandwidth, double LatencySeconds)
{
    /// <summary>NVLink within an H100 node (900 GB/s).</summary>
    public static Link NvLinkH100 { get; } = new("nvlink-h100", 900e9, 5e-6);
    /// <summary>NVLink within an H800 node (400 GB/s).</summary>
    public static Link NvLinkH800 { get; } = new("nvlink-h800", 400e9, 5e-6);
    /// <summary>400 Gb/s InfiniBand between nodes of one datacenter.</summary>
    public static Link InfiniBand { get; } = new("infiniband-400g", 50e9, 5e-6);
    /// <summary>A 100 Gb/s line between datacenters, a few milliseconds away.</summary>
    public static Link CrossDatacenter { get; } = new("cross-dc-100g", 12.5e9, 5e-3);

    /// <summary>NVLink within an A100 node (600 GB/s).</summary>
    public static Link NvLinkA100 { get; } = new("nvlink-a100", 600e9, 5e-6);
    /// <summary>PCIe Gen5 x16 between a device and its host's memory (64 GB/s raw, about 50 effective).</summary>
    public static Link PcieGen5 { get; } = new("pcie-gen5", 50e9, 1e-5);
    /// <summary>PCIe Gen4 x16 (32 GB/s raw, about 25 effective).</summary>
    public static Link PcieGen4 { get; } = new("pcie-gen4", 25e9, 1e-5);

    public static IReadOnlyList<Link> All { get; } = [NvLinkH100, NvLinkH800, NvLinkA100, InfiniBand, CrossDatacenter, PcieGen5, PcieGen4];

    /// <summary>The link between the devices of one node of a class (tensor-parallel peers).</summary>
    public static Link WithinNode(DeviceClass device) => device.Name switch { "H800" => NvLinkH800, "A100" => NvLinkA100, _ => NvLinkH100 };

    /// <summary>The link between a device of a class and its host's memory.</summary>
    public static Link ToHost(DeviceClass device) => device.Name == "A100" ? PcieGen4 : PcieGen5;

    public static Link Parse(string name) =>
        All.FirstOrDefault(l => string.Equals(l.Name, name, StringComparison.OrdinalIgnoreCase))
        ?? throw new ArgumentException($"link {Text.Excerpt.Of(name)} is not one of {string.Join(", ", All.Select(l => l.Name))}");
}
