using Grains.Interfaces.Jobs;
using Grains.Models;
using Kernels.Audio;
using Kernels.Tasks;
using Kernels.Tokenizers;

namespace Grains.Tests;

/// <summary>A speech job: spoken arithmetic questions (espeak-ng) heard as audio tokens by a model whose vocabulary holds both, answered in text.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SpeechJobTests(ClusterFixture fixture)
{
    /// <summary>A speech model folder and a dataset of <paramref name="count"/> spoken questions, codebooks small enough to learn in a moment.</summary>
    private static (string Model, string Dataset, AudioTokenizer Audio) Write(string name, int count)
    {
        var root = Path.Combine(ClusterFixture.CheckpointDirectory, name);
        var examples = TaskDataset.Generate(new ArithmeticTask(), count, seed: 3);
        var clips = examples.Select((e, k) => Espeak.Speak(SpokenArithmetic.Question(e), SpeechVoice.Varied[k % SpeechVoice.Varied.Length])).ToArray();
        var audio = AudioTokenizer.Learn(clips, linguisticSize: 8, semanticSize: 16, seed: 4);
        SpeechModelFolder.Write(Path.Combine(root, "model"), audio, seed: 5);
        return (Path.Combine(root, "model"), SpeechModelFolder.WriteDataset(Path.Combine(root, "data"), examples, clips), audio);
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
