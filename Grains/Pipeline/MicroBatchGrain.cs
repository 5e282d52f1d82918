using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Rl;

namespace Grains.Pipeline;

/// <summary>A micro-batch's samples (or pairs) for the current step and the stages its passes have been through.</summary>
public sealed class MicroBatchGrain : Grain, IMicroBatchGrain
{
    private long step = -1;
    private MicroBatchInput input = new([]);
    private readonly SortedSet<int> forward = [];
    private readonly SortedSet<int> backward = [];

    public Task Assign(long newStep, TrainingRow[] newRows) => Hold(newStep, new MicroBatchInput(newRows), "sample");

    public Task AssignPairs(long newStep, PreferenceBatch pairs) => Hold(newStep, new MicroBatchInput([], pairs), "pair");

    private Task Hold(long newStep, MicroBatchInput held, string what)
    {
        if (held.Count == 0) throw new ArgumentException($"{this.GetPrimaryKeyString()}: a micro-batch holds at least one {what}");
        (step, input) = (newStep, held);
        forward.Clear();
        backward.Clear();
        return Task.CompletedTask;
    }

    public Task<MicroBatchInput> Input(long asked) => asked == step
        ? Task.FromResult(input)
        : throw new InvalidOperationException($"{this.GetPrimaryKeyString()} holds step {step}, not step {asked}");

    public Task Passed(long passedStep, int stage, bool isBackward)
    {
        if (passedStep == step) (isBackward ? backward : forward).Add(stage);
        return Task.CompletedTask;
    }

    public Task<MicroBatchProgress> Progress() => Task.FromResult(new MicroBatchProgress(step, input.Count, [.. forward], [.. backward]));
}
