using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Preference;
using Kernels.Rl;
using Kernels.Training;

namespace Grains.Models;

/// <summary>A trainer's setup and rows as the kernels take them: one place for trainer grains and pipeline stages alike.</summary>
public static class TrainerSettings
{
    public static OptimizerOptions Optimizer(TrainerSetup setup) =>
        new OptimizerOptions { LearningRate = setup.LearningRate, WarmupSteps = setup.WarmupSteps, WeightDecay = 0 }.Validated();

    public static ActorLossOptions ActorLoss(TrainerSetup setup) => new(setup.ClipRatio, setup.ClipRatio, KlLossCoefficient: setup.KlLossCoefficient,
        KlEstimator: Kl(setup.KlEstimator), EntropyCoefficient: setup.EntropyCoefficient, Temperature: setup.Temperature,
        BehaviourWeightCap: setup.BehaviourWeightCap);

    /// <summary>The kernels' estimator of the one a job names (the same members).</summary>
    public static KlEstimator Kl(KlEstimatorKind kind) => Enum.Parse<KlEstimator>(kind.ToString());

    /// <summary>The kernels' loss sums as the trainers report them.</summary>
    public static TrainSums Sums(UpdateSums s) => new(s.Tokens, s.Loss, s.ClipFraction, s.ApproxKl, s.Entropy, s.Kl, s.BehaviourCut);

    /// <summary>The kernels' preference loss of the one a job names (the same members).</summary>
    public static PreferenceLoss Loss(PreferenceLossKind kind) => Enum.Parse<PreferenceLoss>(kind.ToString());

    public static PairSums Sums(PreferenceSums s) => new(s.Pairs, s.Loss, s.ChosenReward, s.RejectedReward, s.Correct);

    public static PreferenceExample Example(PreferenceRow r) => new(r.Prompt, r.Chosen, r.Rejected, r.RefChosen, r.RefRejected);

    public static TrainingSample Sample(TrainingRow r) => new(r.Prompt, r.Response, r.OldLogProbs, r.Advantages, r.OldValues, r.Returns, r.RefLogProbs, r.ProximalLogProbs, r.ProximalIsCurrent, r.ToolTokens, r.VersionLags);
}
