using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;

namespace Grains.Pipeline;

/// <summary>A micro-batch's samples for the current step and the stages its passes have been through.</summary>
public sealed class MicroBatchGrain : Grain, IMicroBatchGrain
{
    private long step = -1;
    private TrainingRow[] rows = [];
    private readonly SortedSet<int> forward = [];
    private readonly SortedSet<int> backward = [];

    public Task Assign(long newStep, TrainingRow[] newRows)
    {
        if (newRows.Length == 0) throw new ArgumentException($"{this.GetPrimaryKeyString()}: a micro-batch holds at least one sample");
        (step, rows) = (newStep, newRows);
        forward.Clear();
        backward.Clear();
        return Task.CompletedTask;
    }

    public Task<TrainingRow[]> Rows(long asked) => asked == step
        ? Task.FromResult(rows)
        : throw new InvalidOperationException($"{this.GetPrimaryKeyString()} holds step {step}, not step {asked}");

    public Task Passed(long passedStep, int stage, bool isBackward)
    {
        if (passedStep == step) (isBackward ? backward : forward).Add(stage);
        return Task.CompletedTask;
    }

    public Task<MicroBatchProgress> Progress() => Task.FromResult(new MicroBatchProgress(step, rows.Length, [.. forward], [.. backward]));
}
