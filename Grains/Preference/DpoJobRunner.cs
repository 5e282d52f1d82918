using System.Diagnostics;
using Grains.Cluster;
using Grains.Data;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Grains.Models;
using Grains.Storage;
using Kernels.Preference;
using Kernels.Tasks;
using Microsoft.Extensions.Logging;

namespace Grains.Preference;

/// <summary>
/// The iterations of a DPO job (kind "dpo"), run by its job grain on the grains an RL job trains with: the actor's
/// data-parallel trainer replicas (or, with an rl.pipeline section, its pipeline stages) learn from offline
/// preference pairs, the scoring workers compute the frozen
/// reference's log-probs of every pair once, and the generation workers measure the held-out greedy accuracy
/// on the rl section's task. Each iteration draws dpo.pairsPerIteration pairs and takes rl.miniBatches optimizer
/// steps over them; every rl.evalEvery it measures the held-out pairs' preference accuracy and the task's
/// greedy accuracy. Checkpoints, resume and a silo's loss work as an RL job's (the same trainers and store).
/// </summary>
public sealed class DpoJobRunner(JobSpec job, IGrainFactory grains, ICheckpointStore store, ILogger logger, Action<IterationMetrics> report) : IJobRun
{
    private readonly RlSpec rl = job.Rl!;
    private readonly DpoSpec dpo = job.Dpo!;
    private readonly JobKeys keys = JobKeys.For(job);
    private readonly JobCheckpoints checkpoints = new(job, store);
    private readonly JobMetricsLog metricsLog = new(job, store);
    private readonly IGenerationWorkerGrain[] workers = [.. Enumerable.Range(0, job.Rl!.GenerationWorkers).Select(w => grains.GetGrain<IGenerationWorkerGrain>(JobKeys.For(job).Worker(w)))];
    private ITrainerBackend? trainers;
    private PreferenceRow[] rows = [];
    private long pairsDrawn;

    public async Task RunAsync(RunStart from, Action<int, string> progress, CancellationToken cancellation)
    {
        var encoding = new TaskEncoding(ModelCatalog.Tokenizer(rl.Model));
        var maxPositions = ModelCatalog.Config(rl.Model).MaxPositions;
        var data = new PreferenceData(job, encoding, maxPositions);
        var task = await Task.Run(() => new RlData(job, encoding, maxPositions));
        var limits = new GenerationLimits(rl.MaxBatch, rl.MaxTokens, rl.Model, task.HeldOut.Max(e => encoding.Prompt(e).Length) + task.Task.MaxResponseTokens + 1) { Job = job.Name };
        var (start, drawn, _, passedOver, _) = from == RunStart.Fresh ? JobCheckpoints.ResumePoint.Fresh : await checkpoints.Latest();
        foreach (var damaged in passedOver) progress(start, $"passed over a damaged checkpoint: {damaged}");
        if (from == RunStart.Resume && start == 0) throw new InvalidOperationException($"job {job.Name} has no complete checkpoint to resume from under {keys.Checkpoints}; run it without resume to start it");
        if (start == 0 && await checkpoints.ClearEarlierRun() is var removed and > 0) progress(0, $"starting afresh: removed {removed} objects of an earlier run of {job.Name}");
        pairsDrawn = drawn;

        trainers = rl.Pipeline is null ? new DataParallelBackend(job, grains, emulated: null) : new PipelinedBackend(job, grains, store);
        if (start > 0) progress(start, $"resuming after iteration {start}");
        await trainers.Start(start, actor => ActorWarmStart.Run(job, actor, encoding, task, store, progress));
        var scored = new ReferenceLogProbs(job, grains, store);
        var reference = await scored.For(data);
        rows = [.. data.Tokens.Select((t, k) => new PreferenceRow(t.Prompt, t.Chosen, t.Rejected, reference.Chosen[k], reference.Rejected[k]))];
        progress(start, $"reference log-probs of {rows.Length} pairs {(reference.Computed ? "computed by the scoring workers" : "read back from the store")}");
        await Task.WhenAll(workers.Select(w => SiloLoss.Retry(async () =>
        {
            await w.HandBack();
            await w.Configure(limits);
        })));
        if (start == 0)
        {
            var greedy = await GreedyAccuracy(0, encoding, task);
            var initial = new IterationMetrics
            {
                Iteration = 0, HeldOutAccuracy = greedy.Accuracy, HeldOutExample = greedy.Example,
                Preference = PreferenceReport.Of(PairSums.Zero, await HeldOut(data, 0, scored)),
            };
            await metricsLog.Save(initial);
            report(initial);
        }
        // The warm start's and the first evaluation's busy time are no iteration's.
        _ = await TakeUsage();

        var done = start;
        for (var i = start + 1; i <= job.Iterations && !cancellation.IsCancellationRequested; i++)
        {
            var metrics = await Iteration(i, data, encoding, task, scored);
            if (rl.CheckpointEvery > 0 && i % rl.CheckpointEvery == 0) await checkpoints.Save(i, trainers, pairsDrawn);
            done = i;
            await metricsLog.Save(metrics);
            report(metrics);
            var p = metrics.Preference!;
            progress(i, $"iteration {i}: loss {p.Loss:F4}, margin {p.Margin:F3}, accuracy {p.Accuracy:P0}"
                + (p.HeldOutAccuracy is { } h ? $", held-out preference accuracy {h:P1}" : "") + (metrics.HeldOutAccuracy is { } a ? $", held-out accuracy {a:P1}" : ""));
        }
        // A job that stops before a checkpoint leaves one where it stopped, so that --resume goes on from there.
        if (rl.CheckpointEvery > 0 && done > start && done % rl.CheckpointEvery != 0) await checkpoints.Save(done, trainers, pairsDrawn);
    }

    private async Task<IterationMetrics> Iteration(int i, PreferenceData data, TaskEncoding encoding, RlData task, ReferenceLogProbs scored)
    {
        var clock = Stopwatch.StartNew();
        PreferenceRow[] drawn = [.. Enumerable.Range(0, dpo.PairsPerIteration).Select(k => rows[data.Drawn(pairsDrawn + k)])];
        var (sums, gradNorm, rebuilt) = (PairSums.Zero, 0.0, 0);
        var stageBusy = new Dictionary<string, double>();
        var bubbles = new List<double>();
        foreach (var (miniBatch, index) in MiniBatches(drawn).Select((b, k) => (b, k)))
        {
            var step = await trainers!.PreferenceStep(i, index, miniBatch, dpo.Loss, dpo.Beta);
            (sums, gradNorm, rebuilt) = (sums + step.Sums, step.GradNorm, rebuilt + step.Rebuilt);
            foreach (var (device, busy) in step.DeviceBusy) stageBusy[device] = stageBusy.GetValueOrDefault(device) + busy;
            if (step.Bubble is { } bubble) bubbles.Add(bubble);
        }
        pairsDrawn += drawn.Length;
        await trainers!.Publish(i);
        var trainingSeconds = clock.Elapsed.TotalSeconds;
        await checkpoints.DeleteOldWeights(i, keep: 2);
        var evaluate = i % rl.EvalEvery == 0 || i == job.Iterations;
        var heldOut = evaluate ? await HeldOut(data, i, scored) : null;
        var greedy = evaluate ? await GreedyAccuracy(i, encoding, task) : null;
        var seconds = clock.Elapsed.TotalSeconds;
        var usage = await TakeUsage();
        return new IterationMetrics
        {
            Iteration = i, PolicyLoss = sums.MeanLoss, GradNorm = gradNorm, HeldOutAccuracy = greedy?.Accuracy, HeldOutExample = greedy?.Example, Preference = PreferenceReport.Of(sums, heldOut),
            TrainingSeconds = trainingSeconds, IterationSeconds = seconds, SamplesPerSecond = drawn.Length / trainingSeconds,
            TokensPerSecond = drawn.Sum(r => r.Tokens) / trainingSeconds, WeightVersion = i, ReplicasRebuilt = rebuilt,
            DeviceBusy = usage.Select(u => (u.Holder, u.BusySeconds)).Concat(stageBusy.Select(b => (b.Key, b.Value))).ToDictionary(b => b.Item1, b => Math.Round(b.Item2 / seconds, 4)),
            PipelineBubble = bubbles.Count > 0 ? bubbles.Average() : null, PipelineBubbleExpected = trainers.ExpectedBubble,
        };
    }

    /// <summary>The iteration's pairs cut into rl.miniBatches optimizer steps, in order.</summary>
    private PreferenceRow[][] MiniBatches(PreferenceRow[] drawn)
    {
        var size = (drawn.Length + rl.MiniBatches - 1) / rl.MiniBatches;
        return [.. drawn.Chunk(size)];
    }

    /// <summary>
    /// The held-out pairs' sums after iteration <paramref name="version"/>: by a data-parallel replica (they hold the
    /// whole model), or from the scoring workers' log-probs of the published weights (pipeline stages hold slices).
    /// </summary>
    private async Task<PairSums> HeldOut(PreferenceData data, int version, ReferenceLogProbs scored)
    {
        PreferenceRow[] heldOut = [.. data.HeldOut.Select(k => rows[k])];
        if (trainers is DataParallelBackend replicas) return await replicas.PreferenceSums(heldOut, dpo.Loss, dpo.Beta);
        var (chosen, rejected) = await scored.Scored(keys.ActorWeights(version), [.. heldOut.Select(r => (r.Prompt, r.Chosen, r.Rejected))]);
        return TrainerSettings.Sums(PreferenceUpdate.Sums([.. heldOut.Select(TrainerSettings.Example)], chosen, rejected, TrainerSettings.Loss(dpo.Loss), dpo.Beta));
    }

    /// <summary>The task's held-out greedy accuracy of weights version <paramref name="version"/>, on the generation workers.</summary>
    private async Task<HeldOutResult> GreedyAccuracy(int version, TaskEncoding encoding, RlData task)
    {
        var weights = new WeightsRef(keys.ActorWeights(version), version);
        await Task.WhenAll(workers.Select(w => SiloLoss.Retry(() => w.LoadWeights(weights))));
        return await HeldOutEvaluation.Accuracy(workers, weights, encoding, task, job.Rl!.Tools, (worker, error) =>
            logger.LogWarning(error, "job {Job}: {Worker} stopped on weights version {Version}", job.Name, worker.GetPrimaryKeyString(), version));
    }

    private async Task<DeviceUsage[]> TakeUsage()
    {
        var workerUsage = await Task.WhenAll(workers.Select(w => w.TakeUsage()));
        return [.. workerUsage, .. await trainers!.TakeUsage()];
    }

    /// <summary>Gives the job's devices back: its generation workers and trainers leave them once their calls end.</summary>
    public async Task ReleaseDevices()
    {
        await Task.WhenAll(workers.Select(SiloLoss.Vacate));
        if (trainers is not null) await trainers.Release();
        await JobLeases.Released(grains, job.Name);
    }
}
