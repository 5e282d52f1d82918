using Grains.Interfaces.Cluster;
using Grains.Data;
using Grains.Models;
using Grains.Cluster;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Kernels.Model;
using Kernels.Preference;
using Kernels.Rl;
using Kernels.Training;

namespace Grains.Engines;

/// <summary>A trainer replica on real tensors: the model and its AdamW state on the replica's device thread.</summary>
public sealed class TensorTrainingEngine : ITrainingEngine
{
    private readonly ICheckpointStore store;
    private readonly TrainerSetup setup;
    private readonly DeviceThread device;
    private TrainedModel trained = null!;
    private AdamWOptimizer? warmStartOptimizer;

    private TensorTrainingEngine(ICheckpointStore store, TrainerSetup setup, string name, TensorThreads threads) =>
        (this.store, this.setup, device) = (store, setup, new DeviceThread(name, threads));

    private string Role => setup.Critic ? "critic" : "actor";

    public static async Task<TensorTrainingEngine> Create(ICheckpointStore store, TrainerSetup setup, string name, TensorThreads threads)
    {
        var options = TrainerSettings.Optimizer(setup);
        var engine = new TensorTrainingEngine(store, setup, name, threads);
        await engine.device.Run(() =>
        {
            var model = new Transformer(ModelCatalog.Config(setup.Model), setup.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, setup.Seed);
            engine.trained = new TrainedModel(model, new AdamWOptimizer(model.parameters(), options), engine.device, store);
        });
        return engine;
    }

    private Transformer Model => trained.Model;

    public Task<double[]> WarmStart(SftRequest request) => device.Run(() =>
    {
        warmStartOptimizer ??= new AdamWOptimizer(Model.parameters(), new OptimizerOptions { LearningRate = request.LearningRate, WarmupSteps = 20, WeightDecay = 0 });
        var losses = new List<double>();
        for (var s = 0; s < request.Steps; s++)
        {
            // Each step's batch depends only on the seed and the step, so a warm start split into calls gives the same weights.
            var random = Seeds.Random(request.Seed, warmStartOptimizer.Steps);
            var rows = Enumerable.Range(0, request.BatchSize).Select(_ => random.Next(request.Prompts.Length))
                .Select(i => (request.Prompts[i], request.Answers[i])).ToArray();
            var sums = PolicyUpdate.SupervisedBackward(Model, rows, rows.Sum(r => r.Item2.Length));
            warmStartOptimizer.Step();
            losses.Add(sums.Loss / sums.Tokens);
        }
        return losses.ToArray();
    });

    public Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens)
    {
        var samples = share.Select(TrainerSettings.Sample).ToArray();
        return device.Run(() =>
        {
            foreach (var p in Model.parameters()) p.grad = null;
            var sums = samples.Length == 0 ? UpdateSums.Zero : setup.Critic
                ? PolicyUpdate.CriticBackward(Model, samples, miniBatchTokens, setup.ValueClip)
                : PolicyUpdate.ActorBackward(Model, samples, miniBatchTokens, TrainerSettings.ActorLoss(setup));
            return new GradientShare(Kernels.Training.Gradients.Flatten(Model.parameters()), TrainerSettings.Sums(sums));
        });
    }

    public Task<PreferenceShare> PreferenceGradients(PreferenceBatch share)
    {
        var pairs = share.Rows.Select(TrainerSettings.Example).ToArray();
        return device.Run(() =>
        {
            foreach (var p in Model.parameters()) p.grad = null;
            var sums = PreferenceUpdate.Backward(Model, pairs, share.BatchPairs, TrainerSettings.Loss(share.Loss), share.Beta);
            return new PreferenceShare(Kernels.Training.Gradients.Flatten(Model.parameters()), TrainerSettings.Sums(sums));
        });
    }

    /// <summary>Sums in chunks of the pairs in the order given.</summary>
    public Task<PairSums> PreferenceSums(PreferenceBatch pairs) => device.Run(() =>
        pairs.Rows.Chunk(64).Select(chunk => TrainerSettings.Sums(PreferenceUpdate.Evaluate(Model, [.. chunk.Select(TrainerSettings.Example)], TrainerSettings.Loss(pairs.Loss), pairs.Beta)))
            .Aggregate(PairSums.Zero, (a, b) => a + b));

    /// <summary>Log-probs in chunks of the rows in the order given (a replica's share is the same on every run).</summary>
    public Task<float[][]> LogProbs(TrainingRow[] rows) => device.Run(() =>
        rows.Chunk(64).SelectMany(chunk => ResponseScoring.LogProbs(Model, [.. chunk.Select(r => (r.Prompt, r.Response))], setup.Temperature)).ToArray());

    public Task<double> Apply(float[] gradient) => device.Run(() =>
    {
        Kernels.Training.Gradients.Assign(Model.parameters(), gradient);
        return trained.Optimizer.Step().GradNorm;
    });

    public Task Publish(string objectName) => trained.Publish(objectName);

    public Task LoadWeights(string objectName) => trained.LoadWeights(objectName);

    public Task SaveState(string prefix) => trained.SaveState($"{prefix}/{Role}");

    public Task LoadState(string prefix) => trained.LoadState($"{prefix}/{Role}");

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => (device.TakeBusySeconds(), null);

    public async ValueTask DisposeAsync()
    {
        await device.Run(() => warmStartOptimizer?.Dispose());
        await trained.Dispose();
        device.Dispose();
    }
}
