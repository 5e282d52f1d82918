namespace Kernels.Audio;

/// <summary>
/// A reward on a property of spoken audio, its pitch: 1 when the median pitch lies in [MinHz, MaxHz], falling linearly
/// to 0 one band's width outside it; 0 for audio with no voiced frame.
/// </summary>
public sealed record PitchReward(double MinHz, double MaxHz)
{
    public double Score(AudioClip clip) => Score(Pitch.MedianHz(clip));

    /// <summary>score(f) = 1 - clamp(distance(f, [min, max]) / (max - min), 0, 1); 0 when f is 0 (unvoiced).</summary>
    public double Score(double hz)
    {
        if (hz <= 0) return 0;
        var distance = hz < MinHz ? MinHz - hz : hz > MaxHz ? hz - MaxHz : 0;
        return 1 - Math.Clamp(distance / (MaxHz - MinHz), 0, 1);
    }
}
