namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "tailBatching" section of an rl job: RollPacker's tail batching, strictly on-policy. An ordinary
/// ("short") round launches <see cref="ExtraPrompts"/> more prompts than a step trains on, each with
/// <see cref="ExtraResponses"/> more responses than a group keeps; the round ends the moment
/// promptsPerIteration prompts have samplesPerPrompt responses each, and the step trains on those (the first
/// responses of each to finish). Every other sample is discarded (its tokens so far dropped), and the
/// prompts left unfinished are deferred: once promptsPerIteration of them wait, a "long" round runs exactly
/// those, samplesPerPrompt responses each, to the end. Each prompt drawn is trained on once, in its own
/// round or in a long one; every round is generated with the weights it trains.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record TailBatchingSpec
{
    /// <summary>Extra prompts a short round launches, as a share of promptsPerIteration (RollPacker's over-provisioned prompts).</summary>
    [Id(0)] public double ExtraPrompts { get; init; } = 0.25;

    /// <summary>Extra responses each prompt of a short round gets, as a share of samplesPerPrompt.</summary>
    [Id(1)] public double ExtraResponses { get; init; } = 0.25;

    /// <summary>Prompts a short round launches.</summary>
    public int Prompts(RlSpec rl) => (int)Math.Ceiling(rl.PromptsPerIteration * (1 + ExtraPrompts) - 1e-9);

    /// <summary>Responses each prompt of a short round gets.</summary>
    public int Responses(RlSpec rl) => (int)Math.Ceiling(rl.SamplesPerPrompt * (1 + ExtraResponses) - 1e-9);

    /// <summary>The first problem found, as "rl.tailBatching.field: problem", or null.</summary>
    public string? Problem(RlSpec rl) =>
        !(ExtraPrompts >= 0 && ExtraPrompts <= 4) ? $"rl.tailBatching.extraPrompts: {ExtraPrompts} must be a share of promptsPerIteration between 0 and 4"
        : !(ExtraResponses >= 0 && ExtraResponses <= 4) ? $"rl.tailBatching.extraResponses: {ExtraResponses} must be a share of samplesPerPrompt between 0 and 4"
        : Prompts(rl) == rl.PromptsPerIteration && Responses(rl) == rl.SamplesPerPrompt
            ? $"rl.tailBatching: extraPrompts {ExtraPrompts} and extraResponses {ExtraResponses} launch no sample more than a step trains on ({rl.PromptsPerIteration} x {rl.SamplesPerPrompt}); raise one"
        : (long)Prompts(rl) * Responses(rl) > 10_000_000 ? $"rl.tailBatching: a short round of {Prompts(rl)} x {Responses(rl)} samples is too many"
        : rl.Async is not null ? "rl.tailBatching: tail batching is strictly on-policy (each round generated with the weights that train on it); remove rl.async or the tailBatching section"
        : null;
}
