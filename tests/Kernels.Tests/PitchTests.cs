using Kernels.Audio;

namespace Kernels.Tests;

/// <summary>A voice's pitch measured from audio, and the reward on it.</summary>
public sealed class PitchTests
{
    private static AudioClip Tone(Func<double, double> wave, double seconds = 0.5) =>
        new([.. Enumerable.Range(0, (int)(seconds * AudioClip.Rate)).Select(i => (float)wave((double)i / AudioClip.Rate))], AudioClip.Rate);

    [Fact]
    public void A_tone_or_a_voice_like_sum_of_harmonics_measures_at_its_fundamental_and_silence_at_zero()
    {
        Pitch.MedianHz(Tone(t => 0.5 * Math.Sin(2 * Math.PI * 200 * t))).Should().BeApproximately(200, 2);
        // Harmonics 2 and 3 louder than the fundamental: the period is still 1/150 s.
        Pitch.MedianHz(Tone(t => 0.2 * Math.Sin(2 * Math.PI * 150 * t) + 0.3 * Math.Sin(2 * Math.PI * 300 * t) + 0.3 * Math.Sin(2 * Math.PI * 450 * t)))
            .Should().BeApproximately(150, 2);
        // Quiet lead-in and tail (below the loudness floor) do not count: a 120 Hz tone between them is 120 Hz.
        Pitch.MedianHz(Tone(t => (t is > 0.1 and < 0.4 ? 0.5 : 0.001) * Math.Sin(2 * Math.PI * 120 * t))).Should().BeApproximately(120, 2);
        Pitch.MedianHz(new AudioClip(new float[8000], AudioClip.Rate)).Should().Be(0);
    }

    [Fact]
    public void Espeaks_higher_pitched_voice_measures_higher()
    {
        var low = Pitch.MedianHz(Espeak.Speak("what is seven plus two", new SpeechVoice("en-us", 160, 20)));
        var high = Pitch.MedianHz(Espeak.Speak("what is seven plus two", new SpeechVoice("en-us", 160, 80)));

        low.Should().BeInRange(60, 400);
        high.Should().BeGreaterThan(low * 1.2, $"pitch 20 measured {low:F0} Hz, pitch 80 {high:F0} Hz");
    }

    [Theory]
    [InlineData(200, 1.0)]
    [InlineData(150, 1.0)]
    [InlineData(250, 1.0)]
    [InlineData(125, 0.75)]
    [InlineData(300, 0.5)]
    [InlineData(350, 0.0)]
    [InlineData(390, 0.0)]
    [InlineData(0, 0.0)]
    public void The_pitch_reward_is_one_in_its_band_and_falls_to_zero_a_band_width_outside(double hz, double score) =>
        new PitchReward(150, 250).Score(hz).Should().BeApproximately(score, 1e-12);
}
