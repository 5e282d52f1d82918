using Kernels.Model;
using Kernels.Training;
using System.Security.Cryptography;
using Kernels.Checkpoints;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Kernels.Smoke;

/// <summary>What one smoke run measured.</summary>
public sealed record SmokeOutcome(
    long Parameters, int Steps, double InitialLoss, double FinalLoss, double FirstGradientNorm,
    string CheckpointPath, long CheckpointBytes, string CheckpointSha256, double ReloadMaxDifference);

/// <summary>
/// Proves the tensor stack end to end: a small MLP regresses a fixed non-linear target with Adam
/// (forward and backward passes), its weights go to a safetensors checkpoint, and a fresh model
/// loaded from that file must reproduce the trained model's outputs.
/// </summary>
public static class SmokeTraining
{
    private const int Inputs = 8, Hidden = 32, Examples = 256;

    public static SmokeOutcome Run(int steps, long seed, string checkpointPath)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(steps, 1);
        using var scope = NewDisposeScope();
        var generator = new Generator((ulong)seed);
        var x = randn(new long[] { Examples, Inputs }, generator: generator);
        var target = sin(x.matmul(randn(new long[] { Inputs, 1 }, generator: generator)));

        random.manual_seed(seed);
        using var model = new Mlp();
        using var optimizer = new AdamWOptimizer(model.parameters(), new Kernels.Training.OptimizerOptions { LearningRate = 0.01, WeightDecay = 0, MaxGradNorm = 0 });
        double initialLoss = double.NaN, finalLoss = double.NaN, firstGradientNorm = double.NaN;
        for (var step = 0; step < steps; step++)
        {
            using var stepScope = NewDisposeScope();
            var loss = nn.functional.mse_loss(model.forward(x), target);
            loss.backward();
            if (step == 0)
            {
                initialLoss = loss.item<float>();
                firstGradientNorm = Math.Sqrt(model.parameters().Sum(p => p.grad!.pow(Scalars.Two).sum().item<float>()));
            }
            optimizer.Step();
            finalLoss = loss.item<float>();
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(checkpointPath))!);
        SafeTensors.Save(checkpointPath, model.state_dict(), new Dictionary<string, string> { ["format"] = "pt", ["steps"] = steps.ToString() });

        using var reloaded = new Mlp();
        using (var checkpoint = SafeTensors.Load(checkpointPath))
        {
            reloaded.load_state_dict(checkpoint.Tensors);
        }
        double difference;
        using (no_grad())
        {
            difference = (model.forward(x) - reloaded.forward(x)).abs().max().item<float>();
        }

        using var written = File.OpenRead(checkpointPath);
        return new SmokeOutcome(
            model.parameters().Sum(p => p.numel()), steps, initialLoss, finalLoss, firstGradientNorm,
            Path.GetFullPath(checkpointPath), written.Length, Convert.ToHexStringLower(SHA256.HashData(written)), difference);
    }

    private sealed class Mlp : nn.Module<Tensor, Tensor>
    {
        private readonly Linear hidden = nn.Linear(Inputs, Hidden);
        private readonly Linear output = nn.Linear(Hidden, 1);

        public Mlp() : base(nameof(Mlp)) => RegisterComponents();

        public override Tensor forward(Tensor input) => output.forward(tanh(hidden.forward(input)));
    }
}
