using System.Reflection;
using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;

namespace Grains.Tests.Iteration;

public class DataParallelBackendTests
{
    private const string Job = """
        {
          "name": "dp", "kind": "rl", "iterations": 2, "seed": 1,
          "rl": { "algorithm": "ppo", "promptsPerIteration": 2, "samplesPerPrompt": 2, "miniBatches": 1 }
        }
        """;

    [Fact]
    public async Task A_step_whose_actor_is_lost_with_every_replica_goes_back_only_after_the_critics_step_has_applied()
    {
        var events = new List<string>();
        var criticGradients = new TaskCompletionSource<GradientShare>();
        var sums = new TrainSums(2, 0.5, 0, 0, 0, 0);
        var trainers = new Dictionary<string, ITrainerGrain>
        {
            ["actor"] = Trainer.Answering((method, _) => method == nameof(ITrainerGrain.Gradients)
                ? Task.FromException<GradientShare>(new SiloUnavailableException("the actor's silo was killed"))
                : throw new InvalidOperationException($"the lost actor was asked to {method}")),
            ["critic"] = Trainer.Answering((method, _) => method switch
            {
                nameof(ITrainerGrain.Gradients) => criticGradients.Task,
                nameof(ITrainerGrain.Apply) => Applied(events),
                _ => throw new InvalidOperationException($"the critic was asked to {method}"),
            }),
        };
        var backend = new DataParallelBackend(JobSpec.FromJson(Job, "job.json"), Factory.Of(key => trainers[key.Split('/')[1]]), null);
        TrainingRow[] rows = [new([1, 2], [3, 4], [-1, -1], [0.5f, 0.5f], [0, 0], [1, 1], [-1, -1])];

        var step = backend.Step(1, 0, rows);
        step.IsCompleted.Should().BeFalse("the critic's step is still computing its gradient");
        criticGradients.SetResult(new GradientShare([0.1f, 0.2f], sums));
        var act = async () =>
        {
            try
            {
                await step;
            }
            finally
            {
                events.Add("the step's loss went up");
            }
        };

        await act.Should().ThrowAsync<SiloUnavailableException>();
        events.Should().Equal("the critic applied its sum", "the step's loss went up");
    }

    private static Task<double> Applied(List<string> events)
    {
        events.Add("the critic applied its sum");
        return Task.FromResult(1.0);
    }

    /// <summary>A trainer grain answering each call with <c>answer(method, arguments)</c>.</summary>
    public class Trainer : DispatchProxy
    {
        private Func<string, object?[]?, object> answer = null!;

        public static ITrainerGrain Answering(Func<string, object?[]?, object> answer)
        {
            var trainer = Create<ITrainerGrain, Trainer>();
            ((Trainer)(object)trainer).answer = answer;
            return trainer;
        }

        protected override object? Invoke(MethodInfo? method, object?[]? args) => answer(method!.Name, args);
    }

    /// <summary>A grain factory whose string-keyed grains are <c>grain(key)</c>; it knows no other call.</summary>
    public class Factory : DispatchProxy
    {
        private Func<string, object> grain = null!;

        public static IGrainFactory Of(Func<string, object> grain)
        {
            var factory = Create<IGrainFactory, Factory>();
            ((Factory)(object)factory).grain = grain;
            return factory;
        }

        protected override object? Invoke(MethodInfo? method, object?[]? args) =>
            method!.Name == nameof(IGrainFactory.GetGrain) && args is [string key, ..] ? grain(key) : throw new NotSupportedException(method.Name);
    }
}
