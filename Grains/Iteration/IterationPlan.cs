using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Tasks;

namespace Grains.Iteration;

/// <summary>
/// What each step samples: its prompts (drawn in the dataset's seeded order), one sample per response
/// (groups of samplesPerPrompt), each with its sampling seed and what it is scored with. On emulated
/// devices prompts are lengths only. Keeps the dataset position that checkpoints save. With tail batching
/// (RollPacker) a step is a round: a short one draws more prompts and responses than it trains on; the
/// prompts it ends without are deferred here, and once promptsPerIteration of them wait, the next step is
/// a long round of exactly those, drawing nothing new.
/// </summary>
public sealed class IterationPlan(JobSpec job, RlData? data, EmulatedJob? emulated, TaskEncoding encoding, int sequenceLength)
{
    private readonly RlSpec rl = job.Rl!;
    private readonly JobKeys keys = JobKeys.For(job);
    /// <summary>Tells runs of the job apart: a resumed run's samples replace an earlier run's.</summary>
    private readonly long run = DateTimeOffset.UtcNow.UtcTicks;
    private readonly Queue<PromptRef> deferred = new();

    /// <summary>Prompts drawn since the job began (saved in checkpoints).</summary>
    public long PromptsDrawn { get; set; }

    /// <summary>Prompts a tail-batching round ended without, oldest first, waiting for a long round (saved in checkpoints).</summary>
    public IReadOnlyCollection<PromptRef> Deferred => deferred;

    /// <summary>Puts a checkpoint's deferred prompts back in line.</summary>
    public void Restore(IEnumerable<PromptRef> prompts)
    {
        deferred.Clear();
        foreach (var p in prompts) deferred.Enqueue(p);
    }

    /// <summary>The prompts of groups a round ended without (one sample of each is enough) wait for a long round.</summary>
    public void Defer(IEnumerable<SampleStart> groups)
    {
        foreach (var s in groups) deferred.Enqueue(new PromptRef(s.ExampleIndex, s.PromptSeed));
    }

    /// <summary>
    /// Step <paramref name="iteration"/>'s samples, generated with weights version <paramref name="version"/> (and
    /// valued by that version's critic), and its round (null without tail batching); draws its prompts.
    /// </summary>
    public (SampleStart[] Starts, PlannedRound? Round) Next(int iteration, int version)
    {
        var scoring = new ScoringModels(rl.Task, rl.Reward == RewardSource.Model ? rl.RewardModel : null, keys.ReferenceWeights,
            rl.NeedsCritic ? keys.CriticWeights(version) : null, rl.Model, rl.Temperature, sequenceLength, emulated?.Scorer, ToolTurns: rl.Tools is not null, Pitch: rl.SpokenAnswers?.Pitch);
        var (prompts, group, round) = rl.TailBatching switch
        {
            null => (Drawn(iteration, rl.PromptsPerIteration), rl.SamplesPerPrompt, (PlannedRound?)null),
            _ when deferred.Count >= rl.PromptsPerIteration => ([.. Enumerable.Range(0, rl.PromptsPerIteration).Select(_ => deferred.Dequeue())], rl.SamplesPerPrompt, new PlannedRound(Long: true)),
            { } t => (Drawn(iteration, t.Prompts(rl)), t.Responses(rl), new PlannedRound(Long: false)),
        };
        var starts = Enumerable.Range(0, prompts.Length * group).Select(index =>
        {
            var (prompt, seed) = (prompts[index / group], Seeds.Sample(job.Seed, iteration, index));
            var id = $"{iteration}/{index / group}";
            if (data is null)
            {
                return new SampleStart(job.Name, iteration, index, id, -1, [], "", seed, emulated!.Lengths.Max,
                    rl.Temperature, scoring, run, emulated.PromptLength, prompt.PromptSeed);
            }
            var example = data.Train[prompt.ExampleIndex];
            return new SampleStart(job.Name, iteration, index, id, prompt.ExampleIndex, encoding.Prompt(example), example.Answer,
                seed, rl.ResponseTokens(data.Task.MaxResponseTokens), rl.Temperature, scoring, run, PromptSeed: prompt.PromptSeed, Tools: rl.Tools?.Use());
        }).ToArray();
        return (starts, round);
    }

    /// <summary>The next <paramref name="count"/> prompts of the dataset's order (on emulated devices, their seeds).</summary>
    private PromptRef[] Drawn(int iteration, int count)
    {
        var drawn = Enumerable.Range(0, count).Select(p => data is null
            ? new PromptRef(-1, emulated!.PromptSeed(iteration, p, PromptsDrawn + p))
            : new PromptRef(data.PromptIndex(PromptsDrawn + p), 0)).ToArray();
        PromptsDrawn += count;
        return drawn;
    }
}

/// <summary>A prompt by what identifies it: its example in the dataset (real devices), or its seed (emulated: its responses' lengths follow it).</summary>
public sealed record PromptRef(int ExampleIndex, long PromptSeed);

/// <summary>A tail-batching step's round: a short one keeps promptsPerIteration of the groups it launched; a long one runs deferred prompts to the end.</summary>
public sealed record PlannedRound(bool Long);
