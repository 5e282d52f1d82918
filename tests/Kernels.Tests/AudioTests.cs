using Kernels.Audio;
using Kernels.Tasks;

namespace Kernels.Tests;

public sealed class AudioTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("audio-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Fact]
    public void K_means_finds_three_separated_blobs_and_their_means()
    {
        var random = new Random(3);
        (float X, float Y)[] centres = [(0, 0), (10, 0), (0, 10)];
        var frames = Enumerable.Range(0, 300).Select(i => centres[i % 3]).Select(c => new[] { c.X + (float)(random.NextDouble() - 0.5), c.Y + (float)(random.NextDouble() - 0.5) }).ToArray();

        var codebook = Codebook.Learn(frames, 3, seed: 5);
        var codes = codebook.Encode(frames);

        // Every blob is one code, a code per blob.
        Enumerable.Range(0, 3).Select(b => codes.Where((_, i) => i % 3 == b).Distinct().Count()).Should().AllBeEquivalentTo(1);
        codes.Take(3).Distinct().Should().HaveCount(3);
        for (var b = 0; b < 3; b++)
        {
            var members = frames.Where((_, i) => i % 3 == b).ToArray();
            var centroid = codebook.Centroids[codes[b]];
            centroid[0].Should().BeApproximately(members.Average(f => f[0]), 1e-4f, "a centroid is its members' mean");
            centroid[1].Should().BeApproximately(members.Average(f => f[1]), 1e-4f);
        }
    }

    [Fact]
    public void Speech_is_tokenized_two_linguistic_then_three_semantic_per_120_ms_and_decoded_audio_gives_its_semantic_tokens_back()
    {
        var examples = TaskDataset.Generate(new ArithmeticTask(), 10, seed: 1);
        var clips = examples.Select((e, k) => Espeak.Speak(SpokenArithmetic.Question(e), SpeechVoice.Varied[k % SpeechVoice.Varied.Length])).ToArray();
        var tokenizer = AudioTokenizer.Learn(clips[..8], linguisticSize: 8, semanticSize: 16, seed: 2);

        var clip = clips[9].Resampled();
        var tokens = tokenizer.Encode(clip);
        var decoded = tokenizer.Decode(tokens);
        var again = tokenizer.Encode(decoded);

        var groups = Math.Min(clip.Samples.Length / 960 / 2, clip.Samples.Length / 640 / 3);
        tokens.Should().HaveCount(5 * groups, "two 60 ms and three 40 ms frames a 120 ms group");
        tokens.Where((_, i) => i % 5 < 2).Should().OnlyContain(t => t >= 0 && t < 8);
        tokens.Where((_, i) => i % 5 >= 2).Should().OnlyContain(t => t >= 8 && t < 24);
        decoded.Samples.Should().HaveCount(groups * 1920);
        again.Where((_, i) => i % 5 >= 2).Should().Equal(tokens.Where((_, i) => i % 5 >= 2), "each semantic token is laid as a frame of its own code");
        tokenizer.RoundTrip(clip).Semantic.Should().Be(1);
    }

    [Fact]
    public void An_unreadable_silent_or_unsupported_audio_file_and_a_token_out_of_place_are_refused_naming_them()
    {
        var text = Path.Combine(folder, "text.wav");
        File.WriteAllText(text, "not audio at all");
        var silent = Path.Combine(folder, "silent.wav");
        new AudioClip(new float[1600], 16_000).Write(silent);
        var slow = Path.Combine(folder, "slow.wav");
        new AudioClip([.. Enumerable.Range(0, 4000).Select(i => (float)Math.Sin(i * 0.3) * 0.5f)], 4_000).Write(slow);

        FluentActions.Invoking(() => AudioClip.Read(text)).Should().Throw<InvalidDataException>().WithMessage($"{text}: not a WAV file that can be read*");
        FluentActions.Invoking(() => AudioClip.Read(silent)).Should().Throw<InvalidDataException>().WithMessage($"{silent}: silent*");
        FluentActions.Invoking(() => AudioClip.Read(slow)).Should().Throw<InvalidDataException>().WithMessage($"{slow}: sample rate 4000 Hz is not supported (8,000-48,000 Hz)");
        FluentActions.Invoking(() => AudioClip.Read(Path.Combine(folder, "none.wav"))).Should().Throw<FileNotFoundException>().WithMessage("*none.wav: no such audio file");

        var clips = new[] { Espeak.Speak("what is one plus two", SpeechVoice.Varied[0]) };
        var tokenizer = AudioTokenizer.Learn(clips, linguisticSize: 4, semanticSize: 8, seed: 1);
        FluentActions.Invoking(() => tokenizer.Decode([0, 1, 4, 5, 99])).Should().Throw<ArgumentException>().WithMessage("audio token 99 at position 4 is not a semantic code (4-11)");
        FluentActions.Invoking(() => tokenizer.Decode([0, 5, 4, 5, 6])).Should().Throw<ArgumentException>().WithMessage("audio token 5 at position 1 is not a linguistic code (0-3)");
    }

    [Fact]
    public void Codebooks_saved_beside_a_model_load_back_as_the_same_tokenizer_and_a_speech_vocabulary_puts_audio_after_text()
    {
        var examples = TaskDataset.Generate(new ArithmeticTask(), 4, seed: 2);
        var clips = examples.Select((e, k) => Espeak.Speak(SpokenArithmetic.Question(e), SpeechVoice.Varied[k])).ToArray();
        var audio = AudioTokenizer.Learn(clips, linguisticSize: 4, semanticSize: 8, seed: 3);
        var model = Path.Combine(folder, "model");
        SpeechModelFolder.Write(model, audio, seed: 1);
        var dataset = SpeechModelFolder.WriteDataset(Path.Combine(folder, "data"), examples, clips);

        var speech = (Kernels.Tokenizers.SpeechTokenizer)Kernels.Tokenizers.HuggingFaceTokenizer.Read(model);
        var read = TaskDataset.ReadFile(dataset);

        var text = Kernels.Tokenizers.CharTokenizer.ForTasks();
        (speech.AudioOffset, speech.VocabSize).Should().Be((text.VocabSize, text.VocabSize + 12));
        speech.Encode("12+3=").Should().Equal(text.Encode("12+3="));
        read.Select(e => e.Audio).Should().Equal(Enumerable.Range(0, 4).Select(k => Path.Combine(folder, "data", "audio", $"q-{k:D5}.wav")), "audio is found relative to the dataset's folder");
        var heard = speech.EncodeAudio(read[1].Audio!);
        heard.Should().Equal(audio.Encode(clips[1]).Select(t => t + text.VocabSize), "the loaded codebooks tokenize as the learned ones, after the text ids");
        speech.DecodeAudio(heard).Samples.Should().Equal(audio.Decode(audio.Encode(clips[1])).Samples, "and decode to the same frames");
        speech.Decode([.. text.Encode("41"), .. heard]).Should().Be("41", "text decoding leaves audio out");
        new TaskEncoding(speech).Prompt(read[1]).Should().Equal([speech.BosId, .. heard]);
        FluentActions.Invoking(() => new TaskEncoding(text).Prompt(read[1])).Should().Throw<ArgumentException>().WithMessage("a spoken prompt (*) needs a model whose tokenizer has audio tokens");
    }

    [Theory]
    [InlineData("12+34=", "what is twelve plus thirty four")]
    [InlineData("40-97=", "what is forty minus ninety seven")]
    [InlineData("105+0=", "what is one hundred five plus zero")]
    public void Questions_are_spoken_as_words(string prompt, string spoken) =>
        SpokenArithmetic.Question(new TaskExample(prompt, "")).Should().Be(spoken);
}
