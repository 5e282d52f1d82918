using Grains.Data;
using Grains.Models;
using System.Diagnostics;
using System.Text.Json;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Pipeline;
using Grains.Storage;
using Kernels.Rl;
using Kernels.Tasks;
using Microsoft.Extensions.Logging;

namespace Grains.Rl;

/// <summary>
/// The iterations of one RL job, run by its job grain: draw prompts, create one sample grain per
/// response, dispatch them to the generation workers, wait until every sample is scored (the barrier
/// policy scores only after all generation ends; under streaming each sample scores itself as it
/// finishes), estimate advantages, train the actor (and critic) data-parallel over mini-batches and
/// epochs (or pipeline-parallel on stage grains, when the job has a pipeline section), and publish the
/// new weights to the workers with their version. On emulated devices the same
/// loop runs on response lengths: no dataset, warm start, evaluation or checkpoints, and no advantages
/// (there are no tokens to give them to).
/// </summary>
public sealed class RlJobRunner(JobSpec job, IGrainFactory grains, ICheckpointStore store, ILogger logger, Action<IterationMetrics> report)
{
    private readonly RlSpec rl = job.Rl!;
    private readonly EmulatedJob? emulated = job.Rl!.Emulated ? new EmulatedJob(job) : null;
    private readonly HashSet<string> generated = [];
    private readonly HashSet<string> scored = [];
    private TaskCompletionSource allGenerated = new();
    private TaskCompletionSource allScored = new();
    private int expected;
    private readonly long run = DateTimeOffset.UtcNow.UtcTicks;
    /// <summary>The dataset position: prompts drawn since the job began (saved in checkpoints).</summary>
    private long promptsDrawn;
    private int sequenceLength;
    /// <summary>The stage grains' trainer when the job trains pipeline-parallel, and the bubble its schedule should have.</summary>
    private PipelineTrainer? pipeline;
    private double expectedBubble;
    /// <summary>Device grains this run used, to give back when it ends.</summary>
    private readonly List<IDeviceGrain> held = [];

    private string Prefix => $"jobs/{job.Name}";
    private string ReferenceObject => $"{Prefix}/weights/reference.safetensors";
    private string ActorObject(int version) => $"{Prefix}/weights/actor-{version:D6}.safetensors";
    private string CriticObject(int version) => $"{Prefix}/weights/critic-{version:D6}.safetensors";
    private string CheckpointPrefix(int iteration) => $"{Prefix}/checkpoints/it-{iteration:D6}";

    /// <summary>Called by the job grain when a sample grain reports a stage (each sample counts once).</summary>
    public void SampleReached(string sampleId, SampleStage stage)
    {
        if (stage == SampleStage.Generated && generated.Add(sampleId) && generated.Count == expected) allGenerated.TrySetResult();
        if (stage == SampleStage.Scored && scored.Add(sampleId) && scored.Count == expected) allScored.TrySetResult();
    }

    /// <summary>Runs the job to its last iteration or until cancelled; with <paramref name="resume"/>, from its latest checkpoint.</summary>
    public async Task RunAsync(bool resume, Action<int, string> progress, CancellationToken cancellation)
    {
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(rl.Model));
        var data = emulated is null ? new RlData(job, encoding) : null;
        var workers = Enumerable.Range(0, rl.GenerationWorkers).Select(w => grains.GetGrain<IGenerationWorkerGrain>($"{job.Name}/g{w}")).ToArray();
        var pipelined = rl.Pipeline is not null && emulated is null;
        var limits = data is null
            ? new GenerationLimits(rl.MaxBatch, rl.MaxTokens, rl.Model, emulated!.PromptLength + emulated.Lengths.Max + 1, emulated.Generator)
            : new GenerationLimits(rl.MaxBatch, rl.MaxTokens, rl.Model, data.Train.Concat(data.HeldOut).Max(e => encoding.Prompt(e).Length) + data.Task.MaxResponseTokens + 1);
        sequenceLength = limits.MaxSequenceLength;
        held.AddRange(workers.Select(w => w));
        await Task.WhenAll(workers.Select(w => w.Configure(limits)));
        var start = resume ? await LatestCheckpoint() : 0;

        // Pipelined, the actor's trainer grain only warm-starts the model, then gives its device to the stages.
        var actors = pipelined ? (start == 0 ? Replicas("actor")[..1] : []) : Replicas("actor");
        var critics = rl.NeedsCritic && !pipelined ? Replicas("critic") : [];
        if (!pipelined) held.AddRange(actors.Concat(critics).Select(t => t));
        await Task.WhenAll(actors.Select(a => a.Setup(Setup(critic: false))));
        await Task.WhenAll(critics.Select(c => c.Setup(Setup(critic: true))));

        if (start > 0)
        {
            progress(start, $"resuming after iteration {start}");
            await Task.WhenAll(actors.Concat(critics).Select(t => t.LoadState(CheckpointPrefix(start))));
            if (await store.GetAsync(ReferenceObject) is null) throw new InvalidDataException($"{ReferenceObject} is missing: the job cannot resume without its reference model");
        }
        else
        {
            if (data is not null) await WarmStart(actors, encoding, data, progress);
            await actors[0].Publish(ReferenceObject);
            await Task.WhenAll(actors.Skip(1).Select(a => a.LoadWeights(ReferenceObject)));
        }
        if (pipelined)
        {
            await Task.WhenAll(actors.Select(a => a.Vacate()));
            actors = [];
            await StartPipeline(start);
        }
        else
        {
            await actors[0].Publish(ActorObject(start));
            if (critics.Length > 0) await critics[0].Publish(CriticObject(start));
        }
        await Task.WhenAll(workers.Select(w => w.LoadWeights(new WeightsRef(ActorObject(start), start))));
        await Task.WhenAll(workers.Select(w => w.TakeUsage()).Concat(actors.Concat(critics).Select(t => t.TakeUsage())));
        if (start == 0 && data is not null)
        {
            var accuracy = await Evaluate(workers, encoding, data);
            report(new IterationMetrics { Iteration = 0, HeldOutAccuracy = accuracy });
        }

        var done = start;
        for (var i = start + 1; i <= job.Iterations && !cancellation.IsCancellationRequested; i++)
        {
            var metrics = await Iteration(i, workers, actors, critics, encoding, data);
            if (Checkpoints && i % rl.CheckpointEvery == 0) await Checkpoint(i, actors, critics);
            done = i;
            report(metrics);
            progress(i, $"iteration {i}: reward {metrics.RewardMean:F3}" + (metrics.HeldOutAccuracy is { } a ? $", held-out accuracy {a:P1}" : ""));
        }
        // A job that stops (cancelled, or at its end) leaves a checkpoint of where it stopped, so that
        // --resume goes on from there (with more iterations, for instance).
        if (Checkpoints && done > start && done % rl.CheckpointEvery != 0) await Checkpoint(done, actors, critics);
    }

    /// <summary>Gives the job's devices back: its generation workers, trainers and stages leave them once their calls end.</summary>
    public async Task ReleaseDevices()
    {
        await Task.WhenAll(held.Select(g => g.Vacate()));
        if (pipeline is not null) await pipeline.Release();
    }

    /// <summary>Sets up the stage grains, from the checkpoint <paramref name="start"/> or the reference weights, and publishes what the workers and scorers load.</summary>
    private async Task StartPipeline(int start)
    {
        var layers = ModelCatalog.Config(rl.Model).Layers;
        var spec = rl.Pipeline!;
        if (Math.Max(spec.Stages, spec.CriticStagesOrActor) > layers) throw new ArgumentException($"rl.pipeline.stages: {rl.Model} has {layers} layers, too few for {Math.Max(spec.Stages, spec.CriticStagesOrActor)} stages");
        (var schedule, expectedBubble) = JobPipeline.Schedule(rl, job.Seed);
        pipeline = new PipelineTrainer(grains, job.Name, schedule, rl.NeedsCritic ? [Setup(critic: false), Setup(critic: true)] : [Setup(critic: false)], spec.Wire == "bf16");
        await pipeline.Setup();
        if (start > 0) await pipeline.LoadState(CheckpointPrefix(start));
        else await pipeline.LoadWeights(0, ReferenceObject);
        await pipeline.Publish(0, store, ActorObject(start));
        if (rl.NeedsCritic) await pipeline.Publish(1, store, CriticObject(start));
    }

    private bool Checkpoints => rl.CheckpointEvery > 0 && emulated is null;

    private async Task<IterationMetrics> Iteration(int i, IGenerationWorkerGrain[] workers, ITrainerGrain[] actors, ITrainerGrain[] critics, TaskEncoding encoding, RlData? data)
    {
        var clock = Stopwatch.StartNew();
        var began = DateTimeOffset.UtcNow;
        var (prompts, group) = (rl.PromptsPerIteration, rl.SamplesPerPrompt);
        var scoring = new ScoringModels(rl.Task, rl.Reward == "model" ? rl.RewardModel : null, ReferenceObject,
            rl.NeedsCritic ? CriticObject(i - 1) : null, rl.Model, rl.Temperature, sequenceLength, emulated?.Scorer);
        var streaming = rl.StagePolicy == "streaming";
        var starts = Enumerable.Range(0, prompts * group).Select(index =>
        {
            var p = index / group;
            if (data is null)
            {
                return new SampleStart(job.Name, i, index, $"{i}/{p}", -1, [], "", Seeds.Sample(job.Seed, i, index), emulated!.Lengths.Max,
                    rl.Temperature, streaming, scoring, run, emulated.PromptLength);
            }
            var exampleIndex = data.PromptIndex(promptsDrawn + p);
            var example = data.Train[exampleIndex];
            return new SampleStart(job.Name, i, index, $"{i}/{p}", exampleIndex, encoding.Prompt(example), example.Answer,
                Seeds.Sample(job.Seed, i, index), data.Task.MaxResponseTokens, rl.Temperature, streaming, scoring, run);
        }).ToArray();
        var samples = starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id)).ToArray();
        promptsDrawn += prompts;

        (expected, allGenerated, allScored) = (starts.Length, new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        generated.Clear();
        scored.Clear();
        await Task.WhenAll(samples.Select((s, k) => s.Create(starts[k])));
        await Task.WhenAll(workers.Select((worker, w) => Dispatch(worker, $"{job.Name}/g{w}", starts.Where(s => s.Index % workers.Length == w).ToArray())));
        if (rl.StagePolicy == "barrier")
        {
            await allGenerated.Task;
            await Task.WhenAll(samples.Select(s => s.Score()));
        }
        await allScored.Task;
        var records = await Task.WhenAll(samples.Select(s => s.Record()));
        var generationEnd = records.Max(r => r.Times.Generated!.Value);
        var scoringEnd = records.Max(r => r.Times.Scored!.Value);
        var trainingStart = clock.Elapsed;

        var advantages = data is null ? new AdvantageResult(records.Select(_ => Array.Empty<float>()).ToArray(), null, 0) : Advantages(records);
        var rows = records.Select((r, k) => new TrainingRow(r.Start!.Prompt, r.Generated!.Response, r.Generated.LogProbs,
            advantages.Advantages[k], r.Scores!.Values, advantages.Returns?[k], r.Scores.RefLogProbs, r.Start.EmulatedPrompt, r.Generated.EmulatedLength)).ToArray();

        var (actorSums, criticSums, gradNorm) = (new TrainSums(0, 0, 0, 0, 0, 0), new TrainSums(0, 0, 0, 0, 0, 0), 0.0);
        var pipelineSteps = new List<PipelineStepResult>();
        foreach (var (step, index) in MiniBatchPlan.Steps(rows.Length, rl.Epochs, rl.MiniBatches, job.Seed, i).Select((step, index) => (step, index)))
        {
            var miniBatch = step.Select(k => rows[k]).ToArray();
            if (pipeline is not null)
            {
                // Step numbers rise across iterations (and across a resume), as the devices' turns need.
                var result = await pipeline.Step((long)i * 100_000 + index, [.. pipeline.Schedule.Models.Select(m => JobPipeline.Cut(miniBatch, m))]);
                pipelineSteps.Add(result);
                (actorSums, gradNorm) = (Add(actorSums, result.Sums[0]), result.GradNorm[0]);
                if (result.Sums.Length > 1) criticSums = Add(criticSums, result.Sums[1]);
                continue;
            }
            var actorStep = DataParallelStep(actors, miniBatch);
            var criticStep = critics.Length > 0 ? DataParallelStep(critics, miniBatch) : null;
            var (sums, norm) = await actorStep;
            (actorSums, gradNorm) = (Add(actorSums, sums), norm);
            if (criticStep is not null) criticSums = Add(criticSums, (await criticStep).Sums);
        }
        await Task.WhenAll(samples.Select((s, k) => s.Trained(advantages.Advantages[k], advantages.Returns?[k])));
        if (pipeline is not null)
        {
            await pipeline.Publish(0, store, ActorObject(i));
            if (rl.NeedsCritic) await pipeline.Publish(1, store, CriticObject(i));
        }
        else
        {
            await actors[0].Publish(ActorObject(i));
            if (critics.Length > 0) await critics[0].Publish(CriticObject(i));
        }
        await Task.WhenAll(workers.Select(w => w.LoadWeights(new WeightsRef(ActorObject(i), i))));
        await DeleteOldWeights(i);
        var trainingSeconds = (clock.Elapsed - trainingStart).TotalSeconds;
        double? accuracy = data is not null && (i % rl.EvalEvery == 0 || i == job.Iterations) ? await Evaluate(workers, encoding, data) : null;
        var seconds = clock.Elapsed.TotalSeconds;
        var usage = await Task.WhenAll(workers.Select(w => w.TakeUsage()).Concat(actors.Concat(critics).Select(t => t.TakeUsage())).Concat(ScorerUsage()));
        var timeScale = emulated?.TimeScale ?? 1;

        var rewards = records.Select(r => r.Scores!.Reward).ToArray();
        var rewardMean = rewards.Average();
        var lengths = records.Select(r => r.Generated!.Tokens).Order().ToArray();
        return new IterationMetrics
        {
            Iteration = i,
            RewardMean = rewardMean,
            RewardStd = Math.Sqrt(rewards.Sum(r => (r - rewardMean) * (r - rewardMean)) / Math.Max(1, rewards.Length - 1)),
            HeldOutAccuracy = accuracy,
            Kl = advantages.MeanKl,
            Entropy = actorSums.Entropy / actorSums.Tokens,
            PolicyLoss = actorSums.Loss / actorSums.Tokens,
            ValueLoss = rl.NeedsCritic ? criticSums.Loss / criticSums.Tokens : null,
            ClipFraction = actorSums.ClipFraction / actorSums.Tokens,
            LengthMean = lengths.Average(),
            LengthP50 = Percentile(lengths, 0.50),
            LengthP99 = Percentile(lengths, 0.99),
            LengthMax = lengths[^1],
            GenerationSeconds = (generationEnd - began).TotalSeconds,
            ScoringSeconds = Math.Max(0, (scoringEnd - generationEnd).TotalSeconds),
            TrainingSeconds = trainingSeconds,
            IterationSeconds = seconds,
            SamplesPerSecond = records.Length / seconds,
            TokensPerSecond = lengths.Sum() / seconds,
            DeviceBusy = usage.Select(u => (u.Holder, u.BusySeconds)).Concat(PipelineBusy(pipelineSteps)).ToDictionary(u => u.Item1, u => Math.Round(u.Item2 / seconds, 4)),
            WeightVersion = i,
            GradNorm = gradNorm,
            TimeScale = timeScale,
            Timeline = usage.Where(u => u.Intervals is { Length: > 0 }).Select(u => new DeviceTimeline(u.Holder,
                u.Intervals!.Select(b => new TimelineBar((b.Start - began).TotalSeconds * timeScale, (b.End - began).TotalSeconds * timeScale, b.Stage)).ToArray())).ToArray(),
            PipelineBubble = pipelineSteps.Count > 0 ? pipelineSteps.Average(r => r.BubbleFraction) : null,
            PipelineBubbleExpected = pipeline is not null ? expectedBubble : null,
        };
    }

    /// <summary>Each pipeline device's busy seconds over the iteration's steps, as "job/pp/d{k}".</summary>
    private IEnumerable<(string, double)> PipelineBusy(List<PipelineStepResult> steps) => steps.Count == 0 ? [] :
        Enumerable.Range(0, steps[0].DeviceBusy.Length).Select(d => ($"{job.Name}/pp/d{d}", steps.Sum(r => r.DeviceBusy[d])));

    private AdvantageResult Advantages(SampleRecord[] records)
    {
        var algorithm = rl.Algorithm switch { "ppo" => RlAlgorithm.Ppo, "rloo" => RlAlgorithm.Rloo, "reinforce++" => RlAlgorithm.ReinforcePlusPlus, _ => RlAlgorithm.Grpo };
        return AdvantageEstimator.Compute(algorithm,
            records.Select(r => new ScoredSample(r.Start!.Group, r.Scores!.Reward, r.Generated!.LogProbs, r.Scores.RefLogProbs, r.Scores.Values)).ToArray(),
            new AdvantageOptions(rl.Gamma, rl.Lambda, rl.KlInReward ? rl.KlCoefficient : 0, Enum.Parse<KlEstimator>(rl.KlEstimator, ignoreCase: true)));
    }

    /// <summary>The emulated scoring instances' usage (real scoring is not a leased device, and is not reported).</summary>
    private IEnumerable<Task<DeviceUsage>> ScorerUsage() => emulated is null ? [] :
        Enumerable.Range(0, emulated.Scorer.Instances).Select(k => grains.GetGrain<IScoringGrain>($"{job.Name}/s{k}").TakeUsage());

    private async Task Dispatch(IGenerationWorkerGrain worker, string key, SampleStart[] starts)
    {
        await Task.WhenAll(starts.Select(s => grains.GetGrain<ISampleGrain>(s.Id).Dispatched(key)));
        await worker.Submit(starts.Select(s => new GenerationWork(s.Id, s.Prompt, s.SamplingSeed, s.MaxNewTokens, s.Temperature, [], [], s.EmulatedPrompt)).ToArray());
    }

    /// <summary>
    /// One optimizer step of a model over a mini-batch split across its replicas: each computes the
    /// gradient of its share (divided by the mini-batch's tokens), the shares are summed in replica
    /// order, and every replica applies the sum.
    /// </summary>
    private static async Task<(TrainSums Sums, double GradNorm)> DataParallelStep(ITrainerGrain[] replicas, TrainingRow[] miniBatch)
    {
        var tokens = miniBatch.Sum(r => r.ResponseTokens);
        var shares = await Task.WhenAll(replicas.Select((replica, r) => replica.Gradients(MiniBatchPlan.Share(miniBatch, r, replicas.Length), tokens)));
        var sum = new float[shares[0].Gradient.Length];
        foreach (var share in shares)
        {
            for (var k = 0; k < sum.Length; k++) sum[k] += share.Gradient[k];
        }
        var norms = await Task.WhenAll(replicas.Select(r => r.Apply(sum)));
        return (shares.Select(s => s.Sums).Aggregate(Add), norms[0]);
    }

    private async Task WarmStart(ITrainerGrain[] actors, TaskEncoding encoding, RlData data, Action<int, string> progress)
    {
        if (rl.SftSteps == 0) return;
        var request = new SftRequest(data.Train.Select(encoding.Prompt).ToArray(), data.Train.Select(encoding.Answer).ToArray(),
            rl.SftBatchSize, 0, rl.SftLearningRate, Seeds.Mix(job.Seed, 0x5F7));
        const int chunk = 50;
        for (var done = 0; done < rl.SftSteps; done += chunk)
        {
            var losses = await actors[0].WarmStart(request with { Steps = Math.Min(chunk, rl.SftSteps - done) });
            progress(0, $"supervised warm start: step {done + losses.Length}/{rl.SftSteps}, loss {losses.Average():F3}");
        }
    }

    private async Task<double> Evaluate(IGenerationWorkerGrain[] workers, TaskEncoding encoding, RlData data)
    {
        var parts = await Task.WhenAll(workers.Select(async (w, k) =>
        {
            var mine = Enumerable.Range(0, data.HeldOut.Count).Where(e => e % workers.Length == k).ToArray();
            var responses = await w.Greedy(mine.Select(e => encoding.Prompt(data.HeldOut[e])).ToArray(), data.Task.MaxResponseTokens);
            return mine.Zip(responses, (e, response) => data.Task.Reward(data.HeldOut[e], encoding.Response(response))).ToArray();
        }));
        var rewards = parts.SelectMany(p => p).ToArray();
        return rewards.Count(r => r >= 1.0) / (double)rewards.Length;
    }

    private async Task Checkpoint(int iteration, ITrainerGrain[] actors, ITrainerGrain[] critics)
    {
        var prefix = CheckpointPrefix(iteration);
        if (pipeline is not null) await pipeline.SaveState(prefix);
        else await actors[0].SaveState(prefix);
        if (critics.Length > 0) await critics[0].SaveState(prefix);
        // The state file goes last: a checkpoint without it is incomplete and never resumed from.
        await store.WriteAsync($"{prefix}/state.json", new MemoryStream(JsonSerializer.SerializeToUtf8Bytes(new CheckpointState(iteration, job.Seed, promptsDrawn))));
        logger.LogInformation("job {Job}: checkpoint after iteration {Iteration}", job.Name, iteration);
    }

    private async Task<int> LatestCheckpoint()
    {
        var states = (await store.ListAsync($"{Prefix}/checkpoints/")).Where(o => o.Name.EndsWith("/state.json")).ToArray();
        if (states.Length == 0) return 0;
        using var buffer = new MemoryStream();
        await store.ReadAsync(states[^1].Name, buffer);
        var state = JsonSerializer.Deserialize<CheckpointState>(buffer.ToArray()) ?? throw new InvalidDataException($"{states[^1].Name} is empty");
        if (state.Seed != job.Seed) throw new InvalidDataException($"{states[^1].Name} was written by a run with seed {state.Seed}, not {job.Seed}");
        promptsDrawn = state.PromptsDrawn;
        return state.Iteration;
    }

    private async Task DeleteOldWeights(int version)
    {
        if (version < 2) return;
        await store.DeleteAsync(ActorObject(version - 2));
        if (rl.NeedsCritic) await store.DeleteAsync(CriticObject(version - 2));
    }

    private ITrainerGrain[] Replicas(string role) =>
        Enumerable.Range(0, rl.TrainingReplicas).Select(r => grains.GetGrain<ITrainerGrain>($"{job.Name}/{role}/{r}")).ToArray();

    private TrainerSetup Setup(bool critic) => new(rl.Model, critic, Seeds.Mix(job.Seed, critic ? 2 : 1),
        critic ? rl.CriticLearningRate : rl.ActorLearningRate, rl.WarmupSteps, rl.ClipRatio,
        rl.KlInReward ? 0 : rl.KlCoefficient, rl.KlEstimator, rl.EntropyCoefficient, rl.Temperature, rl.ValueClip, emulated?.Trainer(critic));

    private static TrainSums Add(TrainSums a, TrainSums b) =>
        new(a.Tokens + b.Tokens, a.Loss + b.Loss, a.ClipFraction + b.ClipFraction, a.ApproxKl + b.ApproxKl, a.Entropy + b.Entropy, a.Kl + b.Kl);

    private static int Percentile(int[] sorted, double q) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];

    /// <summary>
    /// What a checkpoint holds beside the trainers' weights and optimizer states. Random generators need
    /// no saving: every draw derives from the seed, the iteration and the sample (<see cref="Seeds"/>).
    /// </summary>
    private sealed record CheckpointState(int Iteration, long Seed, long PromptsDrawn);
}
