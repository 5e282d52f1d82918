namespace Grains.Planning;

/// <summary>A task placed in time.</summary>
public sealed record ScheduledTask(PipelineTask Task, double Start, double End);

/// <summary>
/// A schedule: for each device, its tasks in order with start and end times; with the makespan, the
/// peak activation memory per device and the bubble rate (idle share of devices x makespan).
/// </summary>
public sealed class PipelinePlan
{
    public PipelinePlan(PipelineProblem problem, IReadOnlyList<IReadOnlyList<ScheduledTask>> devices)
    {
        Problem = problem;
        Devices = devices;
        Makespan = devices.SelectMany(d => d).Select(t => t.End).DefaultIfEmpty(0).Max();
        PeakMemory = devices.Select(d => ScheduleDecoder.PeakMemory(d.Select(t => t.Task))).ToArray();
        var busy = devices.SelectMany(d => d).Sum(t => t.End - t.Start);
        BubbleRate = Makespan == 0 ? 0 : 1 - busy / (Makespan * problem.Devices);
    }

    public PipelineProblem Problem { get; }
    public IReadOnlyList<IReadOnlyList<ScheduledTask>> Devices { get; }
    public double Makespan { get; }
    public IReadOnlyList<double> PeakMemory { get; }
    public double BubbleRate { get; }
}
