using Kernels.Audio;
using Kernels.Tasks;
using Kernels.Tokenizers;

namespace Grains.Engines;

/// <summary>A response's spoken part judged by its pitch: its audio tokens (up to eos) decoded by the model's codebooks, then measured.</summary>
public static class SpokenPitch
{
    /// <summary>
    /// The median pitch (Hz) of <paramref name="response"/>'s audio; 0 when it says nothing (no whole 120 ms group, nothing
    /// voiced) or its audio tokens are out of place (a semantic code where a linguistic one belongs): a sampled response may
    /// be any tokens, and a badly formed one earns nothing rather than failing the scorer.
    /// </summary>
    public static double Hz(TaskEncoding encoding, IReadOnlyList<int> response)
    {
        if (encoding.Tokenizer is not ISpeechTokenizer speech) throw new InvalidOperationException("a pitch reward needs a speech model's tokenizer");
        AudioClip clip;
        try
        {
            clip = speech.DecodeAudio(response.TakeWhile(t => t != encoding.Tokenizer.EosId));
        }
        catch (ArgumentException)
        {
            return 0;
        }
        return clip.Samples.Length == 0 ? 0 : Pitch.MedianHz(clip);
    }
}
