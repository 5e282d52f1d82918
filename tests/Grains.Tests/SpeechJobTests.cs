using Grains.Interfaces.Jobs;
using Grains.Interfaces.Models;
using Grains.Models;
using Grains.Storage;
using Kernels.Audio;
using Kernels.Checkpoints;
using Kernels.Tasks;
using Kernels.Tokenizers;

namespace Grains.Tests;

/// <summary>A speech job: spoken arithmetic questions (espeak-ng) heard as audio tokens by a model whose vocabulary holds both, answered in text.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SpeechJobTests(ClusterFixture fixture)
{
    /// <summary>A speech model folder and a dataset of <paramref name="count"/> spoken questions, codebooks small enough to learn in a moment.</summary>
    /// <param name="spokenAnswers">Also speak each answer (in its question's voice) for the dataset's "answerAudio".</param>
    private static (string Model, string Dataset, AudioTokenizer Audio) Write(string name, int count, bool spokenAnswers = false)
    {
        var root = Path.Combine(ClusterFixture.CheckpointDirectory, name);
        var examples = TaskDataset.Generate(new ArithmeticTask(spokenAnswers ? 1 : 2), count, seed: 3);
        var voices = examples.Select((_, k) => SpeechVoice.Varied[k % SpeechVoice.Varied.Length]).ToArray();
        var clips = examples.Select((e, k) => Espeak.Speak(SpokenArithmetic.Question(e), voices[k])).ToArray();
        var answers = spokenAnswers ? examples.Select((e, k) => Espeak.Speak(SpokenArithmetic.Words(int.Parse(e.Answer)), voices[k])).ToArray() : null;
        var audio = AudioTokenizer.Learn(clips, linguisticSize: 8, semanticSize: 16, seed: 4);
        SpeechModelFolder.Write(Path.Combine(root, "model"), audio, seed: 5);
        return (Path.Combine(root, "model"), SpeechModelFolder.WriteDataset(Path.Combine(root, "data"), examples, clips, answers), audio);
    }

    [Fact]
    public async Task A_job_hears_its_spoken_questions_as_the_audio_tokens_of_their_files_and_trains_on_them()
    {
        var grains = fixture.Cluster.Client;
        var (model, dataset, audio) = Write("speech-job", count: 16);
        var tiny = RlJobTests.Tiny("speech-job", iterations: 1);
        var spec = tiny with { Rl = tiny.Rl! with { Model = model, Dataset = dataset, TrainExamples = 12, HeldOutExamples = 4, SftSteps = 10, MaxTokens = 16 } };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        metrics.Select(m => m.Iteration).Should().Equal(0, 1);
        var tokenizer = (SpeechTokenizer)ModelCatalog.Tokenizer(model);
        var examples = TaskDataset.ReadFile(dataset);
        var records = await grains.GetGrain<IJobGrain>("speech-job").TrainedRecords(1);
        records.Should().NotBeEmpty();
        foreach (var record in records)
        {
            var example = examples.Single(e => e.Answer == record.Start!.Answer && tokenizer.EncodeAudio(e.Audio!).SequenceEqual(record.Start.Prompt.Skip(1)));
            // Independently: the file read again and tokenized by the codebooks, after the text vocabulary.
            int[] heard = [.. audio.Encode(AudioClip.Read(example.Audio!)).Select(t => tokenizer.AudioOffset + t)];
            record.Start!.Prompt.Should().Equal([tokenizer.BosId, .. heard], $"{example.Prompt} is heard, not read");
            heard.Should().OnlyContain(t => t >= CharTokenizer.ForTasks().VocabSize);
        }
    }

    [Fact]
    public async Task A_speech_job_trains_on_pipeline_stages_and_its_exported_checkpoint_carries_the_vocabulary_and_codebooks()
    {
        var grains = fixture.Cluster.Client;
        var (model, dataset, audio) = Write("speech-pipelined", count: 16);
        var tiny = RlJobTests.Tiny("speech-pipelined", iterations: 2);
        var spec = tiny with
        {
            Rl = tiny.Rl! with
            {
                Model = model, Dataset = dataset, TrainExamples = 12, HeldOutExamples = 4, SftSteps = 10, MaxTokens = 16, CheckpointEvery = 1,
                Pipeline = new PipelineSpec { Stages = 2, MicroBatches = 2 },
            },
        };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        foreach (var m in metrics.Where(m => m.Iteration > 0))
        {
            m.PipelineBubble.Should().BeInRange(0, 1, "the actor trains on two stage grains");
            m.DeviceBusy.Keys.Should().Contain(["speech-pipelined/pp/d0", "speech-pipelined/pp/d1"]);
        }
        var export = grains.GetGrain<IModelExportGrain>("speech-pipelined");
        var opened = await export.Open(null);
        opened.Version.Should().Be(2);
        var bytes = await GrainChunks.Gather(opened.WeightsObject, opened.Length, offset => export.Read(offset, 1 << 20));
        using var trained = SafeTensors.Load(new MemoryStream(bytes));
        var folder = Path.Combine(ClusterFixture.CheckpointDirectory, "speech-pipelined", "exported");
        var files = HuggingFaceFolder.Write(folder, ModelCatalog.Config(model), trained.Tensors, ModelCatalog.Tokenizer(model), ModelCatalog.TokenizerFiles(model), 1.0, long.MaxValue);

        files.Should().Contain(["config.json", "tokenizer.json", HuggingFaceTokenizer.CodebooksFile, ModelCheckpoint.WeightsFile]);
        // The export hears a WAV as the job's model did, and decodes its tokens to the same audio.
        var exported = (SpeechTokenizer)HuggingFaceTokenizer.Read(folder);
        var wav = TaskDataset.ReadFile(dataset)[0].Audio!;
        exported.VocabSize.Should().Be(ModelCatalog.Tokenizer(model).VocabSize);
        exported.EncodeAudio(wav).Should().Equal([.. audio.Encode(AudioClip.Read(wav)).Select(t => exported.AudioOffset + t)]);
        exported.Audio.Decode(audio.Encode(AudioClip.Read(wav))).Samples.Should().Equal(audio.Decode(audio.Encode(AudioClip.Read(wav))).Samples);
        // Its weights, under Hugging Face names, are the trained ones the stages wrote back, not the folder's it started from.
        var (_, tensors) = HuggingFaceFolder.Read(folder);
        var (_, initial) = HuggingFaceFolder.Read(model);
        tensors.Keys.Should().BeEquivalentTo(initial.Keys).And.Contain("model.embed_tokens.weight");
        foreach (var (name, tensor) in tensors) tensor.allclose(trained.Tensors[name], rtol: 0, atol: 0).Should().BeTrue(name);
        tensors["model.embed_tokens.weight"].allclose(initial["model.embed_tokens.weight"], rtol: 0, atol: 0).Should().BeFalse("two iterations trained it");
        foreach (var t in tensors.Values.Concat(initial.Values)) t.Dispose();
    }

    [Fact]
    public async Task Spoken_answers_earn_their_texts_reward_plus_the_pitch_score_of_their_decoded_audio()
    {
        var grains = fixture.Cluster.Client;
        var (model, dataset, audio) = Write("speech-answers", count: 12, spokenAnswers: true);
        var pitch = new PitchRewardSpec { MinHz = 100, MaxHz = 160, Weight = 0.5 };
        var tiny = RlJobTests.Tiny("speech-answers", iterations: 2);
        var spec = tiny with
        {
            Rl = tiny.Rl! with
            {
                Model = model, Dataset = dataset, HeldOutExamples = 4, SftSteps = 200, SftLearningRate = 1e-3, Temperature = 0.7,
                SpokenAnswers = new SpokenAnswersSpec { ResponseTokens = 48, Pitch = pitch },
            },
        };

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var tokenizer = (SpeechTokenizer)ModelCatalog.Tokenizer(model);
        var examples = TaskDataset.ReadFile(dataset);
        var records = (await grains.GetGrain<IJobGrain>("speech-answers").TrainedRecords(1)).Concat(await grains.GetGrain<IJobGrain>("speech-answers").TrainedRecords(2)).ToArray();
        records.Should().NotBeEmpty();
        var scored = 0;
        var measured = new List<double>();
        foreach (var record in records)
        {
            var response = record.Generated!.Response.TakeWhile(t => t != tokenizer.EosId).ToArray();
            response.Length.Should().BeLessThanOrEqualTo(48);
            var text = tokenizer.Decode(response);
            // Independently: the response's audio tokens, in place, decoded by the codebooks and measured; out of place, none.
            var codes = response.Where(t => t >= tokenizer.AudioOffset).Select(t => t - tokenizer.AudioOffset).ToArray();
            var wellFormed = codes.Select((c, i) => i % 5 < 2 ? c < audio.LinguisticSize : c >= audio.LinguisticSize).All(x => x);
            var hz = wellFormed && codes.Length >= 5 ? Pitch.MedianHz(audio.Decode(codes)) : 0;
            var expected = (text == record.Start!.Answer ? 1.0 : 0.0) + 0.5 * new PitchReward(100, 160).Score(hz);
            record.Scores!.Reward.Should().BeApproximately(expected, 1e-9, $"response {text} with {codes.Length} audio tokens at {hz:F0} Hz");
            record.Scores.PitchHz.Should().Be(hz);
            measured.Add(hz);
            if (hz > 0) scored++;
        }
        scored.Should().BeGreaterThan(0, "after the warm start some answers are spoken");
        // Each step reports the share of its answers voiced and their median pitch.
        var last = metrics.Single(m => m.Iteration == 2).Spoken!;
        var lastVoiced = records.Where(r => r.Start!.Iteration == 2).Select(r => r.Scores!.PitchHz!.Value).Where(hz => hz > 0).Order().ToArray();
        last.VoicedShare.Should().Be((double)lastVoiced.Length / records.Count(r => r.Start!.Iteration == 2));
        if (lastVoiced.Length % 2 == 1) last.MedianHz.Should().Be(lastVoiced[lastVoiced.Length / 2]);
        else last.MedianHz.Should().Be(lastVoiced.Length == 0 ? 0 : (lastVoiced[lastVoiced.Length / 2 - 1] + lastVoiced[lastVoiced.Length / 2]) / 2);
        examples.Should().OnlyContain(e => e.AnswerAudio != null && File.Exists(e.AnswerAudio));
    }

    [Fact]
    public async Task Spoken_answers_on_a_model_without_audio_tokens_fail_the_job_naming_the_model()
    {
        var grains = fixture.Cluster.Client;
        var (_, dataset, _) = Write("speech-answers-text", count: 6, spokenAnswers: true);
        var tiny = RlJobTests.Tiny("speech-answers-text", iterations: 1);
        var spec = tiny with { Rl = tiny.Rl! with { Dataset = dataset, HeldOutExamples = 2, SpokenAnswers = new SpokenAnswersSpec() } };

        var (status, _) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Failed);
        status.Message.Should().Contain("rl.spokenAnswers: model 'demo' has no audio tokens to speak with");
        (spec.Rl! with { SpokenAnswers = new SpokenAnswersSpec { Pitch = new PitchRewardSpec { MinHz = 200, MaxHz = 150 } } }).Problem()
            .Should().Be("rl.spokenAnswers.pitch: minHz 200 must be below maxHz 150");
        (spec.Rl! with { Dataset = null, SpokenAnswers = new SpokenAnswersSpec() }).Problem()
            .Should().StartWith("rl.spokenAnswers: the spoken answers are a dataset's");
    }

    [Fact]
    public async Task A_dataset_line_whose_audio_is_silent_fails_the_job_naming_the_line_and_the_file()
    {
        var grains = fixture.Cluster.Client;
        var (model, dataset, _) = Write("speech-bad", count: 6);
        var lines = File.ReadAllLines(dataset);
        var silent = Path.Combine(Path.GetDirectoryName(dataset)!, "audio", "q-00002.wav");
        new AudioClip(new float[3200], AudioClip.Rate).Write(silent);
        var tiny = RlJobTests.Tiny("speech-bad", iterations: 1);
        var spec = tiny with { Rl = tiny.Rl! with { Model = model, Dataset = dataset, TrainExamples = 4, HeldOutExamples = 2, SftSteps = 0 } };

        var (status, _) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Failed);
        status.Message.Should().Contain($"{dataset}:3: {silent}: silent");
        lines.Should().HaveCount(6);
    }
}
