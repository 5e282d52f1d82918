using Grains.Interfaces.Jobs;

namespace Grains.Iteration;

/// <summary>
/// How many steps an asynchronous job generates ahead of the step it trains: step j is launched once version
/// j - 1 - <see cref="Steps"/> is published and generated with it, so its samples are <see cref="Steps"/> versions old.
/// With <see cref="RunAhead.Most"/> that is always maxStaleness. With <see cref="RunAhead.Needed"/> it starts at 1 and
/// follows the trainer: one more when a step's samples were not all in as its training began (generation is the
/// bottleneck: more overlap buys throughput), one fewer when the step after it was in by then too, at
/// <see cref="Patience"/> trainings in a row (generation is a whole step ahead: another step of staleness buys
/// nothing). Measured on the arithmetic job: the samples of a run four steps ahead learn less per step than those
/// of one step ahead (README, "Learning parity"); on a generation-bound emulated workload, stepping back at the
/// first sign cost 8 % of its throughput, as its steps' samples come in together and the next one's are often
/// in even when the trainer waits on the step after.
/// </summary>
public sealed class RunAheadLimit(int maxStaleness, RunAhead mode)
{
    /// <summary>How many trainings in a row must find the next step's samples in before the job runs a step less ahead.</summary>
    public const int Patience = 3;

    private int ahead;

    public int Steps { get; private set; } = mode == RunAhead.Needed ? Math.Min(1, maxStaleness) : maxStaleness;

    /// <summary>A step's training begins: whether its samples were all in, and whether the next step's were too.</summary>
    public void TrainingBegins(bool stepIn, bool nextIn)
    {
        if (mode != RunAhead.Needed) return;
        if (!stepIn)
        {
            (Steps, ahead) = (Math.Min(maxStaleness, Steps + 1), 0);
        }
        else if (!nextIn)
        {
            ahead = 0;
        }
        else if (++ahead == Patience)
        {
            (Steps, ahead) = (Math.Max(1, Steps - 1), 0);
        }
    }
}
