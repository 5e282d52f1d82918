using System.Diagnostics;

namespace Kernels.Audio;

/// <summary>A voice of espeak-ng: its name, speaking rate (words a minute) and pitch (0-99).</summary>
public sealed record SpeechVoice(string Name, int WordsPerMinute, int Pitch)
{
    /// <summary>Voices that differ in accent, rate and pitch: what the speech task's utterances are spoken with.</summary>
    public static readonly SpeechVoice[] Varied =
    [
        new("en-us", 160, 50), new("en-gb", 140, 40), new("en-us", 185, 65), new("en-gb-scotland", 150, 30),
        new("en-us", 130, 75), new("en-gb-x-rp", 175, 55),
    ];

    /// <summary>
    /// The k-th utterance's voice: one of <see cref="Varied"/> in turn, its rate moved by up to 12 % and its pitch by up
    /// to 8 either way, drawn from <paramref name="random"/>, so two utterances of one question are never one recording.
    /// </summary>
    public static SpeechVoice Jittered(int k, Random random)
    {
        var voice = Varied[k % Varied.Length];
        return voice with
        {
            WordsPerMinute = (int)Math.Round(voice.WordsPerMinute * (0.88 + 0.24 * random.NextDouble())),
            Pitch = Math.Clamp(voice.Pitch + random.Next(-8, 9), 0, 99),
        };
    }
}

/// <summary>Text spoken by espeak-ng (the Debian package infra/setup.sh installs), read back as a clip.</summary>
public static class Espeak
{
    private static Process Start(ProcessStartInfo start)
    {
        try
        {
            return Process.Start(start)!;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException("espeak-ng is not installed (infra/setup.sh installs it)", e);
        }
    }

    public static AudioClip Speak(string text, SpeechVoice voice)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new ArgumentException("nothing to speak", nameof(text));
        // A file, not --stdout: a WAV written to a pipe carries no sizes in its header.
        var wav = Path.Combine(Path.GetTempPath(), $"espeak-{Guid.NewGuid():N}.wav");
        var start = new ProcessStartInfo("espeak-ng") { RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { "-v", voice.Name, "-s", voice.WordsPerMinute.ToString(), "-p", voice.Pitch.ToString(), "-w", wav, text }) start.ArgumentList.Add(argument);
        try
        {
            using var process = Start(start);
            var error = process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0) throw new InvalidOperationException($"espeak-ng failed on {Text.Excerpt.Of(text)} with voice {voice.Name}: {error.Trim()}");
            return AudioClip.Read(wav);
        }
        finally
        {
            File.Delete(wav);
        }
    }
}
