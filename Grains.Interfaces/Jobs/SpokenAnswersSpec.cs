namespace Grains.Interfaces.Jobs;

/// <summary>
/// Answers spoken by a speech model (rl.spokenAnswers): the dataset's lines name the answer spoken (`answerAudio`), the
/// warm start teaches the answer's text then its audio tokens, and a response may run to <see cref="ResponseTokens"/>.
/// The task's verifier judges the text; <see cref="Pitch"/>, when given, also judges how the answer sounds.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record SpokenAnswersSpec
{
    /// <summary>The most tokens of a response: the answer's text and its audio (41.7 audio tokens a second).</summary>
    [Id(0)] public int ResponseTokens { get; init; } = 96;
    /// <summary>A reward on the spoken answer's pitch, measured from its decoded audio on the scoring workers; none: the text alone is rewarded.</summary>
    [Id(1)] public PitchRewardSpec? Pitch { get; init; }

    public string? Problem(RlSpec rl) =>
        (ResponseTokens is < 8 or > 65_536 ? $"rl.spokenAnswers.responseTokens: {ResponseTokens} must be between 8 and 65536" : null)
        ?? (rl.Emulated ? "rl.spokenAnswers: emulated devices make no tokens to speak with; emulate audio answers' lengths with rl.emulation.lengths \"spoken\"" : null)
        ?? (rl.Dataset is null ? "rl.spokenAnswers: the spoken answers are a dataset's (lines with \"answerAudio\"); name it in rl.dataset" : null)
        ?? Pitch?.Problem();
}

/// <summary>
/// reward = the verifier's + <see cref="Weight"/> x pitch score, where the pitch score of the response's decoded audio is 1
/// when its median pitch lies in [<see cref="MinHz"/>, <see cref="MaxHz"/>], falling linearly to 0 one band's width outside.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PitchRewardSpec
{
    /// <summary>The lowest pitch rewarded in full, in Hz (speaking voices: 60-400).</summary>
    [Id(0)] public double MinHz { get; init; } = 150;
    /// <summary>The highest pitch rewarded in full, in Hz.</summary>
    [Id(1)] public double MaxHz { get; init; } = 250;
    /// <summary>What a pitch in the band adds to the verifier's reward.</summary>
    [Id(2)] public double Weight { get; init; } = 0.5;

    public string? Problem() =>
        (MinHz is < 60 or > 400 || MaxHz is < 60 or > 400 ? $"rl.spokenAnswers.pitch: minHz {MinHz} and maxHz {MaxHz} must be speaking pitches, 60-400 Hz" : null)
        ?? (MinHz >= MaxHz ? $"rl.spokenAnswers.pitch: minHz {MinHz} must be below maxHz {MaxHz}" : null)
        ?? (Weight is <= 0 or > 10 ? $"rl.spokenAnswers.pitch.weight: {Weight} must be above 0 and at most 10" : null);
}
