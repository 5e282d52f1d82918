using Grains.Interfaces.Jobs;

namespace Grains.Iteration;

/// <summary>
/// How many steps an asynchronous job generates ahead of the step it trains: step j is launched once version
/// j - 1 - <see cref="Steps"/> is published and generated with it, so its samples are <see cref="Steps"/> versions old.
/// With <see cref="RunAhead.Most"/> that is always maxStaleness. With <see cref="RunAhead.Needed"/> it starts at 1 and
/// follows the trainer: one more when the trainer waited for a step's samples (generation is the bottleneck: more
/// overlap buys throughput), one fewer when, at <see cref="Patience"/> steps in a row, a step's samples were in
/// more than a whole step period before the trainer was free for them (launched a step later, they would still
/// have been in time: another version of staleness bought nothing). Measured on the arithmetic job: samples four
/// versions old learn less per step than one version old (README, "Learning parity"). Why so many steps in a row:
/// where generation is the bottleneck, the steps generated together come in together, a wave of up to
/// maxStaleness + 1, and all but the first of a wave are in early although the trainer waits for the next wave's
/// first; stepping back on fewer (three) cost the 128-H800 workload half its throughput (README).
/// </summary>
public sealed class RunAheadLimit(int maxStaleness, RunAhead mode)
{
    /// <summary>How many steps in a row must have had their samples in a whole period early before the job runs a step less ahead: more than a wave.</summary>
    public int Patience { get; } = Math.Max(3, maxStaleness + 2);

    /// <summary>A wait shorter than this share of the step period is the trainer's own scheduling, not generation behind.</summary>
    public const double Tolerance = 0.05;

    private int early;

    public int Steps { get; private set; } = mode == RunAhead.Needed ? Math.Min(1, maxStaleness) : maxStaleness;

    /// <summary>
    /// A step trained: <paramref name="waited"/> seconds from when the trainer was free for it until its samples
    /// were all in (negative: they were in that long before), and <paramref name="period"/> seconds between the
    /// trainer being free for the step before and for this one.
    /// </summary>
    public void Trained(double waited, double period)
    {
        if (mode != RunAhead.Needed) return;
        if (waited > Tolerance * period)
        {
            (Steps, early) = (Math.Min(maxStaleness, Steps + 1), 0);
        }
        else if (-waited <= period)
        {
            early = 0;
        }
        else if (++early >= Patience)
        {
            (Steps, early) = (Math.Max(1, Steps - 1), 0);
        }
    }
}
