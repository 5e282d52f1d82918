using System.Text.Json.Nodes;
using Kernels.Checkpoints;
using Kernels.Model;
using Kernels.Tasks;
using Kernels.Tokenizers;

namespace Kernels.Audio;

/// <summary>What a speech job needs on disk: a model folder with text and audio tokens, and a dataset of spoken questions.</summary>
public static class SpeechModelFolder
{
    /// <summary>
    /// The demo shape with the character vocabulary and <paramref name="audio"/>'s tokens after it, seeded weights, its
    /// tokenizer.json (audio tokens named as added tokens) and the codebooks beside it (HuggingFaceFolder writes them with any speech model): a Hugging Face folder a job names as its model.
    /// </summary>
    public static void Write(string folder, AudioTokenizer audio, long seed)
    {
        var text = CharTokenizer.ForTasks();
        var speech = new SpeechTokenizer(text, audio);
        var config = ModelPresets.Demo with { VocabSize = speech.VocabSize };
        using var model = new Transformer(config, HeadKind.LanguageModel, seed);
        HuggingFaceFolder.Write(folder, config, model.state_dict(), speech, new Dictionary<string, JsonNode> { ["tokenizer.json"] = HuggingFaceTokenizer.SpeechJson(text, speech) },
            temperature: 1.0, maxShardBytes: long.MaxValue);
    }

    /// <summary>
    /// A dataset of spoken questions: each clip as a 16 kHz WAV under audio/, the JSONL's lines naming them; with
    /// <paramref name="answers"/>, each answer spoken too (audio/a-NNNNN.wav, the line's "answerAudio").
    /// </summary>
    public static string WriteDataset(string folder, IReadOnlyList<TaskExample> examples, IReadOnlyList<AudioClip> clips, IReadOnlyList<AudioClip>? answers = null,
        string name = "spoken-arithmetic.jsonl")
    {
        Directory.CreateDirectory(Path.Combine(folder, "audio"));
        var path = Path.Combine(folder, name);
        using var writer = new StreamWriter(path);
        TaskDataset.Write(writer, examples.Select((e, k) =>
        {
            var file = $"audio/q-{k:D5}.wav";
            clips[k].Resampled().Write(Path.Combine(folder, file));
            if (answers is null) return e with { Audio = file };
            var answer = $"audio/a-{k:D5}.wav";
            answers[k].Resampled().Write(Path.Combine(folder, answer));
            return e with { Audio = file, AnswerAudio = answer };
        }));
        return path;
    }
}
