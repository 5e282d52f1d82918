using NWaves.Audio;
using NWaves.Operations;
using NWaves.Signals;

namespace Kernels.Audio;

/// <summary>Mono audio as samples in [-1, 1] at a sample rate; read from and written to WAV through NWaves.</summary>
public sealed record AudioClip(float[] Samples, int SampleRate)
{
    /// <summary>The rate every feature and codebook works at.</summary>
    public const int Rate = 16_000;

    /// <summary>Sample rates a clip may come in at (resampled to <see cref="Rate"/>).</summary>
    public const int LowestRate = 8_000, HighestRate = 48_000;

    public double Seconds => (double)Samples.Length / SampleRate;

    /// <summary>A WAV file, its first channel; refused naming the file when unreadable, silent, or at a rate outside 8-48 kHz.</summary>
    public static AudioClip Read(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"{path}: no such audio file", path);
        using var stream = File.OpenRead(path);
        return Read(stream, path);
    }

    public static AudioClip Read(Stream stream, string source)
    {
        WaveFile wave;
        try
        {
            wave = new WaveFile(stream);
        }
        catch (Exception e) when (e is FormatException or EndOfStreamException or ArgumentException or IndexOutOfRangeException or NotSupportedException)
        {
            throw new InvalidDataException($"{source}: not a WAV file that can be read ({e.Message})", e);
        }
        var rate = wave.WaveFmt.SamplingRate;
        if (rate is < LowestRate or > HighestRate) throw new InvalidDataException($"{source}: sample rate {rate} Hz is not supported ({LowestRate:N0}-{HighestRate:N0} Hz)");
        var samples = wave.Signals.Count == 0 ? [] : wave.Signals[0].Samples;
        if (samples.Length == 0 || samples.Max(Math.Abs) < 1e-4f) throw new InvalidDataException($"{source}: silent (no sample above 1e-4 of full scale)");
        return new AudioClip(samples, rate);
    }

    /// <summary>This clip at <paramref name="rate"/> Hz (NWaves' band-limited resampler).</summary>
    public AudioClip Resampled(int rate = Rate) =>
        rate == SampleRate ? this : new AudioClip(new Resampler().Resample(new DiscreteSignal(SampleRate, Samples), rate).Samples, rate);

    /// <summary>As a 16-bit PCM WAV file.</summary>
    public void Write(string path)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
        using var stream = File.Create(path);
        new WaveFile(new DiscreteSignal(SampleRate, [.. Samples.Select(s => Math.Clamp(s, -1f, 1f))]), 16).SaveTo(stream);
    }
}
