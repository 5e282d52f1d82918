namespace Kernels.Tasks;

/// <summary>One line of a task's dataset: the prompt the policy sees and the reference answer the verifier checks against.</summary>
public sealed record TaskExample(string Prompt, string Answer);
