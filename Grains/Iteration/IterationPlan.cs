using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Tasks;

namespace Grains.Iteration;

/// <summary>
/// What each step samples: its prompts (drawn in the dataset's seeded order), one sample per response
/// (groups of samplesPerPrompt), each with its sampling seed and what it is scored with. On emulated
/// devices prompts are lengths only. Keeps the dataset position that checkpoints save.
/// </summary>
public sealed class IterationPlan(JobSpec job, RlData? data, EmulatedJob? emulated, TaskEncoding encoding, int sequenceLength)
{
    private readonly RlSpec rl = job.Rl!;
    private readonly JobKeys keys = JobKeys.For(job);
    /// <summary>Tells runs of the job apart: a resumed run's samples replace an earlier run's.</summary>
    private readonly long run = DateTimeOffset.UtcNow.UtcTicks;

    /// <summary>Prompts drawn since the job began (saved in checkpoints).</summary>
    public long PromptsDrawn { get; set; }

    /// <summary>Step <paramref name="iteration"/>'s samples, generated with weights version <paramref name="version"/> (and valued by that version's critic); draws its prompts.</summary>
    public SampleStart[] Next(int iteration, int version)
    {
        var (prompts, group) = (rl.PromptsPerIteration, rl.SamplesPerPrompt);
        var scoring = new ScoringModels(rl.Task, rl.Reward == RewardSource.Model ? rl.RewardModel : null, keys.ReferenceWeights,
            rl.NeedsCritic ? keys.CriticWeights(version) : null, rl.Model, rl.Temperature, sequenceLength, emulated?.Scorer);
        var starts = Enumerable.Range(0, prompts * group).Select(index =>
        {
            var (prompt, seed) = (index / group, Seeds.Sample(job.Seed, iteration, index));
            if (data is null)
            {
                return new SampleStart(job.Name, iteration, index, $"{iteration}/{prompt}", -1, [], "", seed, emulated!.Lengths.Max,
                    rl.Temperature, scoring, run, emulated.PromptLength, Seeds.Prompt(job.Seed, iteration, prompt));
            }
            var exampleIndex = data.PromptIndex(PromptsDrawn + prompt);
            var example = data.Train[exampleIndex];
            return new SampleStart(job.Name, iteration, index, $"{iteration}/{prompt}", exampleIndex, encoding.Prompt(example), example.Answer,
                seed, data.Task.MaxResponseTokens, rl.Temperature, scoring, run);
        }).ToArray();
        PromptsDrawn += prompts;
        return starts;
    }
}
