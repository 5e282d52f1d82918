namespace Kernels.Audio;

/// <summary>
/// How high a voice speaks: YIN (NWaves) on 40 ms frames every 10 ms, over the frames loud enough to be speech (within
/// 20 dB of the loudest); the median of the pitches found in 60-400 Hz, the range of speaking voices. 0 when none is voiced.
/// </summary>
public static class Pitch
{
    public const float LowHz = 60, HighHz = 400;
    private const double Frame = 0.04, Hop = 0.01;
    // YIN's threshold on the cumulative mean normalized difference: below it a lag is a period.
    private const float Threshold = 0.2f;

    public static double MedianHz(AudioClip clip)
    {
        var samples = clip.Samples;
        var (frame, hop) = ((int)(Frame * clip.SampleRate), (int)(Hop * clip.SampleRate));
        var starts = Enumerable.Range(0, Math.Max(0, (samples.Length - frame) / hop + 1)).Select(k => k * hop).ToArray();
        if (starts.Length == 0) return 0;
        var loudness = starts.Select(s => Rms(samples, s, frame)).ToArray();
        var floor = loudness.Max() * 0.1;
        var pitches = starts.Where((_, k) => loudness[k] > 0 && loudness[k] >= floor)
            .Select(s => NWaves.Features.Pitch.FromYin(samples, clip.SampleRate, s, s + frame, LowHz, HighHz, Threshold))
            .Where(f => f is >= LowHz and <= HighHz).Order().ToArray();
        return pitches.Length == 0 ? 0 : pitches.Length % 2 == 1 ? pitches[pitches.Length / 2] : (pitches[pitches.Length / 2 - 1] + pitches[pitches.Length / 2]) / 2.0;
    }

    private static double Rms(float[] samples, int start, int length)
    {
        var sum = 0.0;
        for (var i = start; i < start + length; i++) sum += samples[i] * samples[i];
        return Math.Sqrt(sum / length);
    }
}
