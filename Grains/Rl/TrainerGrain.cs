using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Rl;
using Grains.Placement;
using Grains.Storage;
using Kernels.Model;
using Kernels.Rl;
using Kernels.Training;

namespace Grains.Rl;

/// <summary>
/// One data-parallel replica of the actor or the critic on a training device: its model and AdamW
/// state. Replicas are built from the same seed and always apply the same summed gradient, so they
/// stay identical without ever exchanging weights.
/// </summary>
[DevicePlacement(SiloRoles.Training)]
public sealed class TrainerGrain(ICheckpointStore store) : TensorDeviceGrain, ITrainerGrain
{
    private TrainerSetup? setup;
    private Transformer? model;
    private AdamWOptimizer? optimizer;
    private AdamWOptimizer? warmStartOptimizer;

    private Transformer Model => model ?? throw new InvalidOperationException($"{this.GetPrimaryKeyString()} is not set up");
    private string Role => setup!.Critic ? "critic" : "actor";

    public Task Setup(TrainerSetup requested)
    {
        if (setup == requested) return Task.CompletedTask;
        var options = new OptimizerOptions { LearningRate = requested.LearningRate, WarmupSteps = requested.WarmupSteps, WeightDecay = 0 }.Validated();
        setup = requested;
        return Work.Run(() =>
        {
            optimizer?.Dispose();
            model?.Dispose();
            model = new Transformer(ModelCatalog.Config(requested.Model), requested.Critic ? HeadKind.Scalar : HeadKind.LanguageModel, requested.Seed);
            optimizer = new AdamWOptimizer(model.parameters(), options);
        });
    }

    public Task<double[]> WarmStart(SftRequest request)
    {
        if (setup is null || setup.Critic) throw new InvalidOperationException($"{this.GetPrimaryKeyString()}: only a set-up actor has a warm start");
        if (request.Prompts.Length == 0 || request.Prompts.Length != request.Answers.Length) throw new ArgumentException("a warm start needs as many answers as prompts, at least one");
        return Work.Run(() =>
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
    }

    public Task<GradientShare> Gradients(TrainingRow[] share, double miniBatchTokens)
    {
        if (setup is null) throw new InvalidOperationException($"{this.GetPrimaryKeyString()} is not set up");
        if (miniBatchTokens <= 0) throw new ArgumentOutOfRangeException(nameof(miniBatchTokens), miniBatchTokens, "a mini-batch has tokens");
        var samples = share.Select(r => new TrainingSample(r.Prompt, r.Response, r.OldLogProbs, r.Advantages, r.OldValues, r.Returns, r.RefLogProbs)).ToArray();
        var s = setup;
        return Work.Run(() =>
        {
            foreach (var p in Model.parameters()) p.grad = null;
            var sums = samples.Length == 0 ? UpdateSums.Zero : s.Critic
                ? PolicyUpdate.CriticBackward(Model, samples, miniBatchTokens, s.ValueClip)
                : PolicyUpdate.ActorBackward(Model, samples, miniBatchTokens, new ActorLossOptions(
                    s.ClipRatio, s.ClipRatio, KlLossCoefficient: s.KlLossCoefficient, KlEstimator: Enum.Parse<KlEstimator>(s.KlEstimator, ignoreCase: true),
                    EntropyCoefficient: s.EntropyCoefficient, Temperature: s.Temperature));
            return new GradientShare(Kernels.Training.Gradients.Flatten(Model.parameters()),
                new TrainSums(sums.Tokens, sums.Loss, sums.ClipFraction, sums.ApproxKl, sums.Entropy, sums.Kl));
        });
    }

    public Task<double> Apply(float[] gradient) => Work.Run(() =>
    {
        Kernels.Training.Gradients.Assign(Model.parameters(), gradient);
        return optimizer!.Step().GradNorm;
    });

    public async Task Publish(string objectName)
    {
        var bytes = await Work.Run(() => ModelCatalog.Serialize(Model));
        await ModelCatalog.WriteAsync(store, objectName, bytes);
    }

    public async Task LoadWeights(string objectName)
    {
        var bytes = await ModelCatalog.ReadAsync(store, objectName);
        await Work.Run(() => ModelCatalog.Deserialize(Model, bytes, objectName));
    }

    public async Task SaveState(string prefix)
    {
        var (weights, state) = await Work.Run(() =>
        {
            using var buffer = new MemoryStream();
            optimizer!.Save(buffer);
            return (ModelCatalog.Serialize(Model), buffer.ToArray());
        });
        await ModelCatalog.WriteAsync(store, $"{prefix}/{Role}.safetensors", weights);
        await ModelCatalog.WriteAsync(store, $"{prefix}/{Role}.optimizer", state);
    }

    public async Task LoadState(string prefix)
    {
        var weights = await ModelCatalog.ReadAsync(store, $"{prefix}/{Role}.safetensors");
        var state = await ModelCatalog.ReadAsync(store, $"{prefix}/{Role}.optimizer");
        await Work.Run(() =>
        {
            ModelCatalog.Deserialize(Model, weights, $"{prefix}/{Role}.safetensors");
            optimizer!.Load(new MemoryStream(state));
        });
    }

    protected override void ReleaseTensors()
    {
        warmStartOptimizer?.Dispose();
        optimizer?.Dispose();
        model?.Dispose();
    }
}
