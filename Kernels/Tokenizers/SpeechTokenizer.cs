using System.Collections.Concurrent;
using Kernels.Audio;

namespace Kernels.Tokenizers;

/// <summary>A tokenizer whose vocabulary holds audio tokens beside its text ones: spoken prompts become tokens too.</summary>
public interface ISpeechTokenizer : ITokenizer
{
    /// <summary>The tokens of a WAV file's speech (the file refused by name when unreadable, silent or at an unsupported rate).</summary>
    int[] EncodeAudio(string wavPath);

    /// <summary>The audio of the audio tokens among <paramref name="ids"/>, in order.</summary>
    AudioClip DecodeAudio(IEnumerable<int> ids);
}

/// <summary>
/// Text tokens first (a text tokenizer's ids), then the audio tokenizer's two codebooks: the ids of a combined
/// vocabulary, as a speech model's. Text decoding leaves audio tokens out; a file's audio tokens are computed once.
/// </summary>
public sealed class SpeechTokenizer(ITokenizer text, AudioTokenizer audio) : ISpeechTokenizer
{
    private readonly ConcurrentDictionary<string, int[]> heard = new();

    public AudioTokenizer Audio => audio;

    /// <summary>The first audio id: a linguistic code c is AudioOffset + c, a semantic code AudioOffset + linguistic size + c.</summary>
    public int AudioOffset => text.VocabSize;

    public int VocabSize => text.VocabSize + audio.VocabSize;
    public int PadId => text.PadId;
    public int BosId => text.BosId;
    public int EosId => text.EosId;

    public int[] Encode(string value) => text.Encode(value);

    public string Decode(IEnumerable<int> ids) => text.Decode(ids.Where(id => id < AudioOffset));

    public int[] EncodeAudio(string wavPath) => heard.GetOrAdd(Path.GetFullPath(wavPath), path => [.. audio.Encode(AudioClip.Read(path)).Select(t => AudioOffset + t)]);

    public AudioClip DecodeAudio(IEnumerable<int> ids) => audio.Decode([.. ids.Where(id => id >= AudioOffset && id < VocabSize).Select(id => id - AudioOffset)]);
}
