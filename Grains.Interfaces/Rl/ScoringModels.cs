using Grains.Interfaces.Jobs;
namespace Grains.Interfaces.Rl;

/// <summary>
/// Which models score a job's samples, by checkpoint-store object: the task's verifier or a reward
/// model, the frozen reference, and (PPO) the critic of the current version.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record ScoringModels(
    [property: Id(0)] RlTask Task,
    [property: Id(1)] string? RewardModel,
    [property: Id(2)] string ReferenceWeights,
    [property: Id(3)] string? CriticWeights,
    [property: Id(4)] string Model,
    [property: Id(5)] double Temperature,
    [property: Id(6)] int SequenceLength,
    [property: Id(7)] EmulatedScorer? Emulated = null,
    [property: Id(8)] bool ToolTurns = false,
    [property: Id(9)] Jobs.PitchRewardSpec? Pitch = null);

/// <summary>One finished sample to score.</summary>
[GenerateSerializer, Immutable]
public sealed record ScoringRequest(
    [property: Id(0)] string SampleId,
    [property: Id(1)] int[] Prompt,
    [property: Id(2)] int[] Response,
    [property: Id(3)] string Answer,
    [property: Id(4)] ScoringModels Models,
    [property: Id(5)] int EmulatedPrompt = 0,
    [property: Id(6)] int EmulatedResponse = 0)
{
    public int PromptTokens => Prompt.Length > 0 ? Prompt.Length : EmulatedPrompt;
    public int ResponseTokens => Response.Length > 0 ? Response.Length : EmulatedResponse;
}
