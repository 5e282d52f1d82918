using Grains.Interfaces.Cluster;
using Grains.Data;
using Grains.Models;
using Grains.Cluster;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Kernels.Model;
using Kernels.Rl;
using Kernels.Training;

namespace Grains.Engines;

/// <summary>A trainer replica on real tensors: the model and its AdamW state on the replica's device thread.</summary>
public sealed class TensorTrainingEngine : ITrainingEngine
{
    private readonly ICheckpointStore store;
    private readonly TrainerSetup setup;
    private readonly DeviceThread device;
    private Transformer model = null!;
    private AdamWOptimizer optimizer = null!;
    private AdamWOptimizer? warmStartOptimizer;

    private TensorTrainingEngine(ICheckpointStore store, TrainerSetup setup, string name) => (this.store, this.setup, device) = (store, setup, new DeviceThread(name));

    private string Role => setup.Critic ? "critic" : "actor";

    public static async Task<TensorTrainingEngine> Create(ICheckpointStore store, TrainerSetup setup, string name)
    {
        var options = TrainerSettings.Optimizer(setup);
        var engine = new TensorTrainingEngine(store, setup, name);
        await engine.device.Run(() =>
        {
            engine.model = new Transformer(ModelCatalog.Config(setup.Model), setup.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, setup.Seed);
            engine.optimizer = new AdamWOptimizer(engine.model.parameters(), options);
        });
        return engine;
    }

    public Task<double[]> WarmStart(SftRequest request) => device.Run(() =>
    {
        warmStartOptimizer ??= new AdamWOptimizer(model.parameters(), new OptimizerOptions { LearningRate = request.LearningRate, WarmupSteps = 20, WeightDecay = 0 });
        var losses = new List<double>();
        for (var s = 0; s < request.Steps; s++)
        {
            // Each step's batch depends only on the seed and the step, so a warm start split into calls gives the same weights.
            var random = Seeds.Random(request.Seed, warmStartOptimizer.Steps);
            var rows = Enumerable.Range(0, request.BatchSize).Select(_ => random.Next(request.Prompts.Length))
                .Select(i => (request.Prompts[i], request.Answers[i])).ToArray();
            var sums = PolicyUpdate.SupervisedBackward(model, rows, rows.Sum(r => r.Item2.Length));
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
            foreach (var p in model.parameters()) p.grad = null;
            var sums = samples.Length == 0 ? UpdateSums.Zero : setup.Critic
                ? PolicyUpdate.CriticBackward(model, samples, miniBatchTokens, setup.ValueClip)
                : PolicyUpdate.ActorBackward(model, samples, miniBatchTokens, TrainerSettings.ActorLoss(setup));
            return new GradientShare(Kernels.Training.Gradients.Flatten(model.parameters()),
                new TrainSums(sums.Tokens, sums.Loss, sums.ClipFraction, sums.ApproxKl, sums.Entropy, sums.Kl));
        });
    }

    public Task<double> Apply(float[] gradient) => device.Run(() =>
    {
        Kernels.Training.Gradients.Assign(model.parameters(), gradient);
        return optimizer.Step().GradNorm;
    });

    public async Task Publish(string objectName)
    {
        var bytes = await device.Run(() => ModelCatalog.Serialize(model));
        await ModelCatalog.WriteAsync(store, objectName, bytes);
    }

    public async Task LoadWeights(string objectName)
    {
        var bytes = await ModelCatalog.ReadAsync(store, objectName);
        await device.Run(() => ModelCatalog.Deserialize(model, bytes, objectName));
    }

    public async Task SaveState(string prefix)
    {
        var (weights, state) = await device.Run(() =>
        {
            using var buffer = new MemoryStream();
            optimizer.Save(buffer);
            return (ModelCatalog.Serialize(model), buffer.ToArray());
        });
        await ModelCatalog.WriteAsync(store, $"{prefix}/{Role}.safetensors", weights);
        await ModelCatalog.WriteAsync(store, $"{prefix}/{Role}.optimizer", state);
    }

    public async Task LoadState(string prefix)
    {
        var weights = await ModelCatalog.ReadAsync(store, $"{prefix}/{Role}.safetensors");
        var state = await ModelCatalog.ReadAsync(store, $"{prefix}/{Role}.optimizer");
        await device.Run(() =>
        {
            ModelCatalog.Deserialize(model, weights, $"{prefix}/{Role}.safetensors");
            optimizer.Load(new MemoryStream(state));
        });
    }

    public (double BusySeconds, BusyInterval[]? Intervals) TakeUsage() => (device.TakeBusySeconds(), null);

    public async ValueTask DisposeAsync()
    {
        await device.Run(() =>
        {
            warmStartOptimizer?.Dispose();
            optimizer.Dispose();
            model.Dispose();
        });
        device.Dispose();
    }
}
