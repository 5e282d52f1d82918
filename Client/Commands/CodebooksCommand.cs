using System.ComponentModel;
using System.Diagnostics;
using Kernels.Audio;
using Kernels.Tasks;
using Spectre.Console;
using Spectre.Console.Cli;

namespace Client.Commands;

/// <summary>
/// Learns the speech tokenizer's two codebooks on spoken arithmetic questions (espeak-ng, several voices), measures
/// its round trip on held-out ones (each utterance's tokens against those of its decoded audio tokenized again), and
/// writes what a speech job needs: a model folder (the demo shape with text and audio tokens, the codebooks beside its
/// weights) and a dataset of spoken questions (a WAV each) with their text answers.
/// </summary>
public sealed class CodebooksCommand : Command<CodebooksCommand.Settings>
{
    public sealed class Settings : CommandSettings
    {
        [CommandOption("--examples")]
        [Description("Spoken questions in the dataset written (the first --utterances of them learn the codebooks).")]
        [DefaultValue(2000)]
        public int Examples { get; init; } = 2000;

        [CommandOption("--utterances")]
        [Description("Spoken questions to learn the codebooks on.")]
        [DefaultValue(300)]
        public int Utterances { get; init; } = 300;

        [CommandOption("--held-out")]
        [Description("Other questions (other numbers) the round trip is measured on.")]
        [DefaultValue(40)]
        public int HeldOut { get; init; } = 40;

        [CommandOption("--linguistic")]
        [Description("Codes of the linguistic codebook (16.7 Hz).")]
        [DefaultValue(256)]
        public int Linguistic { get; init; } = 256;

        [CommandOption("--semantic")]
        [Description("Codes of the semantic codebook (25 Hz).")]
        [DefaultValue(512)]
        public int Semantic { get; init; } = 512;

        [CommandOption("--digits")]
        [Description("Digits of the questions' operands: 1 asks \"what is three plus four\", 2 \"what is twelve plus thirty four\".")]
        [DefaultValue(2)]
        public int Digits { get; init; } = 2;

        [CommandOption("--spoken-answers")]
        [Description("Also speak each question's answer, in the question's voice (\"answerAudio\" in the dataset): a job with rl.spokenAnswers learns to say it.")]
        public bool SpokenAnswers { get; init; }

        [CommandOption("--seed")]
        [Description("Seeds the questions and the codebooks' k-means.")]
        [DefaultValue(7)]
        public int Seed { get; init; } = 7;

        [CommandOption("--out")]
        [Description("Where the model folder (model/), the dataset (data/) and a held-out utterance with its decoded audio (WAV files) are written.")]
        [DefaultValue("runs/speech")]
        public string Out { get; init; } = "runs/speech";

        public override ValidationResult Validate() =>
            Utterances is < 10 or > 100_000 ? ValidationResult.Error($"--utterances must be from 10 to 100,000 (got {Utterances})")
            : Examples < Utterances || Examples > 1_000_000 ? ValidationResult.Error($"--examples must be from --utterances ({Utterances}) to 1,000,000 (got {Examples})")
            : HeldOut is < 1 or > 10_000 ? ValidationResult.Error($"--held-out must be from 1 to 10,000 (got {HeldOut})")
            : Digits is < 1 or > 5 ? ValidationResult.Error($"--digits must be from 1 to 5 (got {Digits})")
            : Linguistic is < 2 or > 8192 || Semantic is < 2 or > 8192 ? ValidationResult.Error($"--linguistic and --semantic must be from 2 to 8192 (got {Linguistic}, {Semantic})")
            : ValidationResult.Success();
    }

    public override int Execute(CommandContext context, Settings settings, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        // The dataset's questions, then the held-out utterances of the round trip: never learned on.
        var examples = TaskDataset.Generate(new ArithmeticTask(settings.Digits), settings.Examples + settings.HeldOut, seed: settings.Seed);
        var data = Path.Combine(settings.Out, "data");
        Directory.CreateDirectory(Path.Combine(data, "audio"));
        var voices = new Random(settings.Seed);
        var voice = Enumerable.Range(0, examples.Count).Select(k => SpeechVoice.Jittered(k, voices)).ToArray();
        AudioClip Spoken(int k) => Espeak.Speak(SpokenArithmetic.Question(examples[k]), voice[k]);
        var clips = Enumerable.Range(0, settings.Examples).Select(Spoken).ToArray();
        var heldOut = Enumerable.Range(settings.Examples, settings.HeldOut).Select(Spoken).ToArray();
        var spoken = clock.Elapsed.TotalSeconds;
        var tokenizer = AudioTokenizer.Learn(clips[..settings.Utterances], settings.Linguistic, settings.Semantic, settings.Seed);
        var learned = clock.Elapsed.TotalSeconds - spoken;
        var trips = heldOut.Select(tokenizer.RoundTrip).ToArray();
        var tokens = heldOut.Sum(c => tokenizer.Encode(c).Length);

        var table = new Table().AddColumns("utterances (codebooks / held out)", "seconds of audio", "tokens / s", "codes", "round trip: all", "linguistic", "semantic");
        table.AddRow($"{settings.Utterances} / {heldOut.Length}", $"{clips[..settings.Utterances].Sum(c => c.Seconds):F0} / {heldOut.Sum(c => c.Seconds):F0}", $"{tokens / heldOut.Sum(c => c.Seconds):F1}",
            $"{settings.Linguistic} + {settings.Semantic}", $"{trips.Average(t => t.All):P1}", $"{trips.Average(t => t.Linguistic):P1}", $"{trips.Average(t => t.Semantic):P1}");
        AnsiConsole.Write(table);
        heldOut[0].Write(Path.Combine(settings.Out, "held-out-0.wav"));
        tokenizer.Decode(tokenizer.Encode(heldOut[0])).Write(Path.Combine(settings.Out, "held-out-0-decoded.wav"));

        var answers = settings.SpokenAnswers
            ? Enumerable.Range(0, settings.Examples).Select(k => Espeak.Speak(SpokenArithmetic.Words(int.Parse(examples[k].Answer)), voice[k])).ToArray() : null;
        if (answers is not null)
        {
            // What a pitch reward's band is chosen against: the spoken answers' own pitches, decoded as a model would say them.
            var pitches = answers.Take(200).Select(a => Pitch.MedianHz(tokenizer.Decode(tokenizer.Encode(a)))).Where(hz => hz > 0).Order().ToArray();
            AnsiConsole.WriteLine(pitches.Length == 0 ? "none of the first 200 spoken answers is voiced after the codebooks' round trip"
                : $"the first 200 spoken answers' pitch after the codebooks' round trip: p10 {pitches[pitches.Length / 10]:F0} Hz, p50 {pitches[pitches.Length / 2]:F0} Hz, p90 {pitches[pitches.Length * 9 / 10]:F0} Hz ({pitches.Length} voiced)");
        }
        var dataset = SpeechModelFolder.WriteDataset(data, examples.Take(settings.Examples).ToArray(), clips, answers);
        var model = Path.Combine(settings.Out, "model");
        SpeechModelFolder.Write(model, tokenizer, settings.Seed);
        AnsiConsole.WriteLine($"spoken in {spoken:F1} s, codebooks learned in {learned:F1} s; {SpokenArithmetic.Question(examples[settings.Examples])}: {settings.Out}/held-out-0.wav and its decoded audio held-out-0-decoded.wav");
        AnsiConsole.WriteLine($"model folder {model} ({tokenizer.VocabSize} audio tokens after the text ones), dataset {dataset} ({settings.Examples} spoken questions)");
        return 0;
    }
}
