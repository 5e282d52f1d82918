using Grains.Cluster;
using Grains.Data;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Models;
using Kernels.Rl;

namespace Grains.Iteration;

/// <summary>
/// How a step's scored samples become optimizer steps. Whole: once every sample is scored, advantages
/// over the step and miniBatches x epochs steps over seeded shuffles (the same on every run). Streamed
/// (rl.async.streamTraining, StreamRL's dynamic batches): mini-batch b is the next promptsPerIteration /
/// miniBatches groups to be scored whole, trained the moment they are, with advantages over its own
/// groups; a colocated job with rl.trainEarly makes its mini-batches so too, and trains each on the devices
/// its generation has freed (<see cref="IEarlyTrainer"/>). Either way every sample's lag behind the trained
/// version is checked against maxStaleness, and asynchronous jobs get the trainers' proximal log-probs for decoupled PPO.
/// </summary>
public sealed class StepTraining(JobSpec job, ITrainerBackend trainers, IGrainFactory grains)
{
    private readonly RlSpec rl = job.Rl!;

    /// <summary>What the step trained on: its records, advantages and lags (by sample index), and when its first optimizer step began.</summary>
    public sealed record Trained(SampleRecord[] Records, AdvantageResult Advantages, int[] Lags, DateTimeOffset Began);

    /// <param name="sent">Set once the step's first optimizer step is sent to the trainers.</param>
    public Task<Trained> Train(int iteration, StepRollout rollout, SampleStart[] starts, IterationMetricsBuilder metrics, TaskCompletionSource sent) =>
        rl.Async is { StreamTraining: true } || rl.TrainEarly ? Streamed(iteration, rollout, starts, metrics, sent) : Whole(iteration, rollout, metrics, sent);

    private async Task<Trained> Whole(int iteration, StepRollout rollout, IterationMetricsBuilder metrics, TaskCompletionSource sent)
    {
        var records = await rollout.Records;
        var began = DateTimeOffset.UtcNow;
        var lags = Lags(iteration, records);
        var advantages = Advantages(records);
        var steps = MiniBatchPlan.For(rl, job.Seed, iteration, [.. records.Select(r => (long)r.Start!.PromptTokens + r.Generated!.Tokens)]);
        var rows = await Rows(iteration, 0, records, advantages, firstStep: rl.Epochs == 1 ? steps[0] : []);
        for (var index = 0; index < steps.Length; index++)
        {
            var step = trainers.Step(iteration, index, [.. steps[index].Select(k => rows[k])]);
            sent.TrySetResult();
            metrics.Trained(await step);
        }
        return new Trained(records, advantages, lags, began);
    }

    private async Task<Trained> Streamed(int iteration, StepRollout rollout, SampleStart[] starts, IterationMetricsBuilder metrics, TaskCompletionSource sent)
    {
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        // An emulated job's samples have no tokens to give returns to (see Advantages).
        var (advantages, returns) = (new float[starts.Length][], rl.NeedsCritic && !rl.Emulated ? new float[starts.Length][] : null);
        var (klSum, began) = (0.0, (DateTimeOffset?)null);
        // Early, a mini-batch's rows wait for their groups whole and go to the devices as they free.
        var early = rl.TrainEarly && rollout.Freed is { } freed && trainers is IEarlyTrainer e ? (Trainer: e, Freed: freed) : default((IEarlyTrainer Trainer, FreedDevices Freed)?);
        var partwise = GroupLocalAdvantages && early is null ? trainers as IPartwiseTrainer : null;

        // Mini-batch b's rows: partwise, the groups scored by the time the trainers ask, each part as soon as one is;
        // else all of its groups at once.
        async IAsyncEnumerable<TrainingRow[]> Parts(int b, int groups)
        {
            for (var taken = 0; taken < groups;)
            {
                var indices = new List<int>(await NextGroup(rollout));
                for (taken++; taken < groups; taken++)
                {
                    if (partwise is null) indices.AddRange(await NextGroup(rollout));
                    else if (rollout.ScoredGroups.TryRead(out var scored)) indices.AddRange(scored);
                    else break;
                }
                began ??= DateTimeOffset.UtcNow;
                // The records the scored reports brought: fetching a mini-batch's from their grains took a call each (1,024 on the
                // 65B set-up, 0.7 emulated seconds with no device busy between mini-batches); one whose report was lost is read.
                var batch = await Task.WhenAll(indices.Select(k => rollout.ScoredRecords.ElementAtOrDefault(k) is { } record ? Task.FromResult(record) : SiloLoss.Retry(samples[k].Record)));
                Lags(iteration, batch);
                var estimated = Advantages(batch);
                for (var m = 0; m < indices.Count; m++)
                {
                    advantages[indices[m]] = estimated.Advantages[m];
                    if (returns is not null) returns[indices[m]] = estimated.Returns![m];
                }
                klSum += estimated.MeanKl * batch.Length;
                // Each part is trained once, by mini-batch b's step, at the weights its proximal policy is (those before
                // that step): its rows take their proximal log-probs from that step's own forward pass, as a first step's do.
                var rows = await Rows(iteration, b, batch, estimated, firstStep: [.. Enumerable.Range(0, batch.Length)]);
                sent.TrySetResult();
                yield return rows;
            }
        }

        for (var b = 0; b < rl.MiniBatches; b++)
        {
            var groups = (b + 1) * rl.PromptsPerIteration / rl.MiniBatches - b * rl.PromptsPerIteration / rl.MiniBatches;
            metrics.Trained(await (partwise is not null ? partwise.Step(iteration, b, Parts(b, groups)) : Whole(b, Parts(b, groups))));
        }
        var records = await rollout.Records;
        return new Trained(records, new AdvantageResult(advantages, returns, klSum / records.Length), Lags(iteration, records), began!.Value);

        async Task<TrainStep> Whole(int b, IAsyncEnumerable<TrainingRow[]> parts) => early is { } on
            ? await on.Trainer.Step(iteration, b, await parts.SingleAsync(), on.Freed)
            : await trainers.Step(iteration, b, await parts.SingleAsync());
    }

    /// <summary>
    /// Whether a sample's advantage depends on its group alone (GRPO's and RLOO's baselines), so that a mini-batch's
    /// groups can be trained in parts as they come; PPO and REINFORCE++ whiten over the mini-batch, which needs it whole.
    /// </summary>
    private bool GroupLocalAdvantages => rl.Algorithm is Algorithm.Grpo or Algorithm.Rloo;

    /// <summary>The next group scored whole; a rollout that failed or was abandoned gives its own error.</summary>
    private static async Task<int[]> NextGroup(StepRollout rollout)
    {
        if (await rollout.ScoredGroups.WaitToReadAsync() && rollout.ScoredGroups.TryRead(out var group)) return group;
        await rollout.Records;
        throw new InvalidOperationException("the step's rollout ended before every group was scored");
    }

    /// <summary>
    /// Each sample's versions behind the one the step trains (i - 1). Samples are generated with the
    /// version their step's launch named: more lag than maxStaleness is a defect, never trained on silently.
    /// </summary>
    private int[] Lags(int iteration, SampleRecord[] records)
    {
        var lags = records.Select(r => iteration - 1 - r.Generated!.WeightVersion).ToArray();
        if (lags.Max() > rl.Staleness)
        {
            var stale = records[Array.IndexOf(lags, lags.Max())];
            throw new InvalidOperationException($"sample {stale.Start!.Id} was generated with weights version {stale.Generated!.WeightVersion}, {lags.Max()} behind the trainer's {iteration - 1}; rl.async.maxStaleness is {rl.Staleness}");
        }
        return lags;
    }

    /// <summary>Advantages over these records (an emulated job's samples have no tokens to give them to).</summary>
    private AdvantageResult Advantages(SampleRecord[] records) => rl.Emulated
        ? new AdvantageResult([.. records.Select(_ => Array.Empty<float>())], null, 0)
        : AdvantageEstimator.Compute(Enum.Parse<RlAlgorithm>(rl.Algorithm.ToString()),
            [.. records.Select(r => new ScoredSample(r.Start!.Group, r.Scores!.Reward, r.Generated!.LogProbs, r.Scores.RefLogProbs, r.Scores.Values,
                r.Generated.Turns is { Calls: > 0 } turns ? turns.Over(r.Generated.Response.Length) : null,
                r.Generated.Turns?.TurnRewards(r.Generated.Response.Length, rl.Tools?.FailedCallReward ?? 0)))],
            new AdvantageOptions(rl.Gamma, rl.Lambda, rl.KlInReward ? rl.KlCoefficient : 0, TrainerSettings.Kl(rl.KlEstimator)));

    /// <summary>
    /// Per response token, the versions the step's proximal policy (i - 1) is ahead of the one that sampled it, from
    /// the response's version spans (a token past them, such as a tool's, takes the last span's lag).
    /// </summary>
    public static int[] TokenLags(int iteration, GeneratedResponse generated)
    {
        var lags = new int[generated.Response.Length];
        var (t, lag) = (0, iteration - 1 - generated.WeightVersion);
        foreach (var span in generated.Spans ?? [])
        {
            lag = iteration - 1 - span.Version;
            for (var n = 0; n < span.Tokens && t < lags.Length; n++) lags[t++] = lag;
        }
        Array.Fill(lags, lag, t, lags.Length - t);
        return lags;
    }

    /// <summary>
    /// The records as training rows for step <paramref name="index"/> of <paramref name="iteration"/> on; with
    /// decoupled PPO on stale samples, with the proximal log-probs of the weights before that step: the rows of <paramref name="firstStep"/> (trained once, by the step's
    /// first optimizer step, whose weights those are) take them from that step's own forward pass, the
    /// others from the trainers now.
    /// </summary>
    private async Task<TrainingRow[]> Rows(int iteration, int index, SampleRecord[] records, AdvantageResult advantages, int[] firstStep)
    {
        var rows = records.Select((r, k) => new TrainingRow(r.Start!.Prompt, r.Generated!.Response, r.Generated.LogProbs,
            advantages.Advantages[k], r.Scores!.Values, advantages.Returns?[k], r.Scores.RefLogProbs, r.Start.EmulatedPrompt, r.Generated.EmulatedLength,
            ToolTokens: r.Generated.Turns is { Calls: > 0 } turns ? turns.Over(r.Generated.Response.Length) : null)).ToArray();
        if (rl.Async is not { Decoupled: true, MaxStaleness: > 0 }) return rows;
        if (rl.Async.ScalesClipByLag) rows = [.. rows.Select((row, k) => row with { VersionLags = TokenLags(iteration, records[k].Generated!) })];
        foreach (var k in firstStep) rows[k] = rows[k] with { ProximalIsCurrent = true };
        var others = Enumerable.Range(0, rows.Length).Where(k => !rows[k].ProximalIsCurrent).ToArray();
        if (others.Length == 0) return rows;
        var proximal = await trainers.ProximalLogProbs(iteration, index, [.. others.Select(k => rows[k])]);
        for (var m = 0; m < others.Length; m++) rows[others[m]] = rows[others[m]] with { ProximalLogProbs = proximal[m] };
        return rows;
    }
}
