using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Iteration;

/// <summary>What a job's actor and critic trainers (grains or pipeline stages) are set up with.</summary>
public static class TrainerSetups
{
    public static TrainerSetup For(JobSpec job, bool critic, EmulatedJob? emulated)
    {
        var rl = job.Rl!;
        return new(rl.Model, critic, Seeds.Mix(job.Seed, critic ? 2 : 1),
            critic ? rl.CriticLearningRate : rl.ActorLearningRate, rl.WarmupSteps, rl.ClipRatio,
            rl.KlInReward ? 0 : rl.KlCoefficient, rl.KlEstimator, rl.EntropyCoefficient, rl.Temperature, rl.ValueClip, emulated?.Trainer(critic),
            rl.Async?.BehaviourWeightCap ?? 5.0);
    }
}
