using Grains.Interfaces.Jobs;
using Kernels.Tasks;

namespace Grains.Data;

/// <summary>
/// A job's examples: the training set (a JSONL file or generated) and a held-out set generated from a
/// separate seed, checked to encode; and the order prompts are drawn in (<see cref="EpochOrder"/>). A spoken
/// dataset (its questions given as audio) holds its own held-out questions, its last rl.heldOutExamples lines:
/// generated ones would be text, which a speech job's questions are not.
/// </summary>
public sealed class RlData
{
    /// <param name="maxPositions">The model's positions: every prompt and the task's longest response must fit.</param>
    public RlData(JobSpec job, TaskEncoding encoding, int maxPositions)
    {
        var rl = job.Rl!;
        Task = TaskDataset.Task(SpecNames.Of(rl.Task));
        var examples = rl.Dataset is { } path ? TaskDataset.ReadFile(path) : TaskDataset.Generate(Task, rl.TrainExamples, job.Seed);
        if (rl.SpokenAnswers is not null && encoding.Tokenizer is not Kernels.Tokenizers.ISpeechTokenizer)
        {
            throw new InvalidDataException($"rl.spokenAnswers: model '{rl.Model}' has no audio tokens to speak with (a speech model folder has them)");
        }
        if (rl.SpokenAnswers is not null && !examples.Any(e => e.AnswerAudio is not null))
        {
            throw new InvalidDataException($"rl.spokenAnswers: {rl.Dataset} has no line with \"answerAudio\" (the answer spoken) to learn to speak from");
        }
        var spoken = examples.Any(e => e.Audio is not null);
        if (spoken && examples.Count <= rl.HeldOutExamples)
        {
            throw new InvalidDataException($"{rl.Dataset}: {examples.Count} spoken questions leave none to train on after rl.heldOutExamples ({rl.HeldOutExamples}), its last lines");
        }
        Train = spoken ? [.. examples.Take(examples.Count - rl.HeldOutExamples)] : examples;
        HeldOut = spoken ? [.. examples.Skip(examples.Count - rl.HeldOutExamples)] : TaskDataset.Generate(Task, rl.HeldOutExamples, job.Seed ^ 0x5EED_0F_4E1D);
        encoding.Check(Train, rl.Dataset ?? "generated training set", maxPositions, rl.ResponseTokens(Task.MaxResponseTokens));
        encoding.Check(HeldOut, spoken ? rl.Dataset! : "generated held-out set", maxPositions, rl.ResponseTokens(Task.MaxResponseTokens));
        order = new EpochOrder(job.Seed, Train.Count);
    }

    private readonly EpochOrder order;

    public IVerifiableTask Task { get; }
    public IReadOnlyList<TaskExample> Train { get; }
    public IReadOnlyList<TaskExample> HeldOut { get; }

    /// <summary>The index in <see cref="Train"/> of the k-th prompt drawn since the job began.</summary>
    public int PromptIndex(long k) => order.Index(k);
}
