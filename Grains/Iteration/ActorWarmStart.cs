using Grains.Data;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Models;
using Grains.Storage;
using Kernels.Tasks;

namespace Grains.Iteration;

/// <summary>
/// Where a new job's actor starts (RL and DPO alike): rl.initialWeights if given, else a folder model's own
/// weights, then rl.sftSteps of supervised training on the task's training set, in calls of 50 steps (progress between them).
/// </summary>
public static class ActorWarmStart
{
    public static async Task Run(JobSpec job, ITrainerGrain actor, TaskEncoding encoding, RlData data, ICheckpointStore store, Action<int, string> progress)
    {
        var rl = job.Rl!;
        if (rl.InitialWeights is { } initial)
        {
            await actor.LoadWeights(initial);
            progress(0, $"actor starts from {initial}");
        }
        else if (ModelCatalog.IsFolder(rl.Model))
        {
            var weights = JobKeys.For(job).FolderWeights;
            await Task.Run(() => ModelCatalog.ImportFolder(rl.Model, store, weights));
            await actor.LoadWeights(weights);
            progress(0, $"actor starts from {rl.Model}'s weights");
        }
        if (rl.SftSteps == 0) return;
        var request = new SftRequest([.. data.Train.Select(encoding.Prompt)], [.. data.Train.Select(encoding.Demonstration)], rl.SftBatchSize, 0, rl.SftLearningRate, Seeds.Mix(job.Seed, 0x5F7));
        const int chunk = 50;
        for (var done = 0; done < rl.SftSteps; done += chunk)
        {
            var losses = await actor.WarmStart(request with { Steps = Math.Min(chunk, rl.SftSteps - done) });
            progress(0, $"supervised warm start: step {done + losses.Length}/{rl.SftSteps}, loss {losses.Average():F3}");
        }
    }
}
