using NWaves.FeatureExtractors;
using NWaves.FeatureExtractors.Options;
using NWaves.Filters.Fda;
using NWaves.Signals;
using NWaves.Windows;

namespace Kernels.Audio;

/// <summary>
/// Log-mel filterbank features of a 16 kHz clip, one frame per hop (NWaves' filterbank extractor). A frame's window
/// is its hop (frames do not overlap): each frame describes exactly the samples it covers, so a decoder that lays
/// one hop of audio per token gives frames of the same kind back.
/// </summary>
public static class LogMel
{
    public const int Bands = 40;

    /// <summary>The frames of <paramref name="clip"/> (resampled to 16 kHz) every <paramref name="hopSeconds"/>; a tail shorter than a hop is left out.</summary>
    public static float[][] Frames(AudioClip clip, double hopSeconds)
    {
        var audio = clip.Resampled();
        var hop = HopSamples(hopSeconds);
        if (audio.Samples.Length < hop) return [];
        var fft = 1;
        while (fft < hop) fft *= 2;
        var options = new FilterbankOptions
        {
            SamplingRate = AudioClip.Rate, FrameDuration = hopSeconds, HopDuration = hopSeconds, FftSize = fft, Window = WindowType.Hann,
            FilterBank = FilterBanks.Triangular(fft, AudioClip.Rate, FilterBanks.MelBands(Bands, AudioClip.Rate, 60, 7_600)),
            NonLinearity = NonLinearityType.LogE, LogFloor = 1e-6f,
        };
        var frames = new FilterbankExtractor(options).ComputeFrom(new DiscreteSignal(AudioClip.Rate, audio.Samples[..(audio.Samples.Length / hop * hop)]));
        return [.. frames];
    }

    public static int HopSamples(double hopSeconds) => (int)Math.Round(hopSeconds * AudioClip.Rate);
}
