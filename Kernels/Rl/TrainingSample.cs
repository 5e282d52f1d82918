namespace Kernels.Rl;

/// <summary>
/// One generated sample as the trainers see it. Per-token arrays run over the response tokens:
/// the behaviour log-probs it was sampled with, its advantages, and for PPO the critic's values at
/// generation time and the returns the critic learns. With <see cref="ProximalLogProbs"/> (the
/// trainer's log-probs before the step, for samples of older weights) the actor's loss is decoupled PPO;
/// <see cref="ProximalIsCurrent"/> says the weights computing the loss are the proximal policy, so its
/// own log-probs, detached, serve (no separate forward pass). <see cref="ToolTokens"/> marks the response tokens a
/// tool wrote (a call's result appended to the context): they are the context's, not the policy's, so the losses
/// and their token counts leave them out. <see cref="VersionLags"/>: per token, how many weight versions the proximal
/// policy is ahead of the one that sampled it; with them decoupled PPO's clip range shrinks with the lag.
/// </summary>
public sealed record TrainingSample(int[] Prompt, int[] Response, float[] OldLogProbs, float[] Advantages, float[]? OldValues = null, float[]? Returns = null, float[]? RefLogProbs = null,
    float[]? ProximalLogProbs = null, bool ProximalIsCurrent = false, bool[]? ToolTokens = null, int[]? VersionLags = null)
{
    /// <summary>The response tokens the policy sampled (those a tool wrote left out).</summary>
    public int Tokens => ToolTokens is { } tool ? tool.Count(t => !t) : Response.Length;
}
