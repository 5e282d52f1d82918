using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>
/// Scoring on an emulated device: one forward pass of the reference's shape over the batch's sequences,
/// then the critic's and the reward model's if the job has them, each for the cost model's seconds. The
/// scores carry no numbers (a zero reward, no log-probs or values): emulation measures time, not learning.
/// </summary>
/// <param name="clock">The device's time line (a colocated device's is shared with its other roles).</param>
public sealed class EmulatedScoringEngine(EmulatedScorer scorer, IDeviceTime clock) : IScoringEngine
{

    public async Task<SampleScores[]> Score(ScoringModels models, ScoringRequest[] batch)
    {
        var sequences = batch.Select(r => r.PromptTokens + r.ResponseTokens).ToArray();
        var seconds = new[] { scorer.Device.Model, scorer.CriticModel, scorer.RewardModel }
            .OfType<string>().Sum(shape => EmulatedCosts.Of(scorer.Device, shape).ForwardSeconds(sequences));
        await clock.Occupy(seconds, "scoring");
        return batch.Select(_ => new SampleScores(0, null, null)).ToArray();
    }

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => clock.Take();

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
