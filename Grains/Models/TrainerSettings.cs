using Grains.Interfaces.Rl;
using Kernels.Rl;
using Kernels.Training;

namespace Grains.Models;

/// <summary>A trainer's setup and rows as the kernels take them: one place for trainer grains and pipeline stages alike.</summary>
public static class TrainerSettings
{
    public static OptimizerOptions Optimizer(TrainerSetup setup) =>
        new OptimizerOptions { LearningRate = setup.LearningRate, WarmupSteps = setup.WarmupSteps, WeightDecay = 0 }.Validated();

    public static ActorLossOptions ActorLoss(TrainerSetup setup) => new(setup.ClipRatio, setup.ClipRatio, KlLossCoefficient: setup.KlLossCoefficient,
        KlEstimator: Enum.Parse<KlEstimator>(setup.KlEstimator, ignoreCase: true), EntropyCoefficient: setup.EntropyCoefficient, Temperature: setup.Temperature);

    public static TrainingSample Sample(TrainingRow r) => new(r.Prompt, r.Response, r.OldLogProbs, r.Advantages, r.OldValues, r.Returns, r.RefLogProbs);
}
