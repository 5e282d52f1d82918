using Grains.Engines;
using Grains.Interfaces.Jobs;

namespace Client.Benchmarks;

/// <summary>
/// One way bench runs a workload: where the roles run and when a sample moves on. Colocated variants
/// run the workload on as many devices, every one hosting every role (the published baseline).
/// </summary>
public sealed record BenchVariant(string Name, RolePlacement Placement, StagePolicy Policy)
{
    public static IReadOnlyList<BenchVariant> All { get; } =
    [
        new("colocated-barrier", RolePlacement.Colocated, StagePolicy.Barrier),
        new("barrier", RolePlacement.Disaggregated, StagePolicy.Barrier),
        new("streaming", RolePlacement.Disaggregated, StagePolicy.Streaming),
        new("colocated-streaming", RolePlacement.Colocated, StagePolicy.Streaming),
    ];

    /// <summary>What bench runs without --policies: the baseline and the two disaggregated policies.</summary>
    public static IReadOnlyList<BenchVariant> Default { get; } = All.Take(3).ToArray();

    /// <summary>The baseline every speed-up is measured against.</summary>
    public const string Baseline = "colocated-barrier";

    public static BenchVariant Parse(string name) => All.FirstOrDefault(v => v.Name == name)
        ?? throw new ArgumentException($"'{name}' is not one of {string.Join(", ", All.Select(v => v.Name))}");

    /// <summary>The workload as this variant runs it, named after it.</summary>
    public JobSpec Apply(JobSpec workload)
    {
        var placed = Placement == RolePlacement.Colocated ? EmulatedJob.ColocatedAtSameDevices(workload) : workload;
        return placed with { Name = $"{workload.Name}-{Name}", Rl = placed.Rl! with { StagePolicy = Policy } };
    }
}
