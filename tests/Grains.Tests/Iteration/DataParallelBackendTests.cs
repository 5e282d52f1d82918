using System.Reflection;
using FluentAssertions;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Grains.Iteration.Policies;

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

    [Fact]
    public async Task A_step_in_parts_computes_each_part_as_it_comes_and_applies_the_token_weighted_sum_once()
    {
        // A replica's gradient of a token-mean loss over a share, as PolicyUpdate's: each row's advantage times its
        // tokens, over the tokens it is told the mini-batch has. Rows of 2, 3 and 5 tokens with advantages 1, 2, 4:
        // the mini-batch's gradient is (1 x 2 + 2 x 3 + 4 x 5) / 10 = 2.8, whether in one step or in parts ({2}, then
        // {3, 5}: 2 / 2 = 1 weighted by 2, (6 + 20) / 8 = 3.25 weighted by 8, over 10).
        var calls = new List<string>();
        var applied = new List<float[]>();
        var trainer = Trainer.Answering((method, args) => method switch
        {
            nameof(ITrainerGrain.Gradients) => Gradient(calls, (TrainingRow[])args![0]!, (double)args[1]!),
            nameof(ITrainerGrain.Apply) => Apply(calls, applied, (float[])args![0]!),
            _ => throw new InvalidOperationException($"the trainer was asked to {method}"),
        });
        var job = JobSpec.FromJson(Job.Replace("\"ppo\"", "\"grpo\""), "job.json");
        var backend = new DataParallelBackend(job, Factory.Of(_ => trainer), null);
        TrainingRow[] rows = [Row(2, 1), Row(3, 2), Row(5, 4)];
        var second = new TaskCompletionSource();

        async IAsyncEnumerable<TrainingRow[]> Parts()
        {
            yield return [rows[0]];
            await second.Task;
            yield return [rows[1], rows[2]];
        }

        var step = backend.Step(1, 0, Parts());
        calls.Should().Equal(["gradients of 1 rows over 2 tokens"], "the first part is computed before the second comes");
        second.SetResult();
        await step;
        calls.Should().Equal("gradients of 1 rows over 2 tokens", "gradients of 2 rows over 8 tokens", "apply");
        applied.Single().Should().Equal([2.8f], (a, b) => Math.Abs(a - b) < 1e-6);

        await backend.Step(1, 1, rows);
        applied[1].Should().Equal([2.8f], (a, b) => Math.Abs(a - b) < 1e-6);
    }

    [Fact]
    public async Task Early_steps_compute_on_freed_replicas_and_a_replica_still_generating_applies_their_sums_in_order_before_it_computes()
    {
        // Two replicas (devices 0 and 1); device 1's worker still generates. Rows of 2, 3 and 5 tokens with advantages 1, 2, 4:
        // whoever computes which rows, each applied gradient is (1 x 2 + 2 x 3 + 4 x 5) / 10 = 2.8, as in one whole step.
        var calls = new List<string>();
        var applied = new List<float[]>();
        ITrainerGrain Replica(int r) => Trainer.Answering((method, args) => method switch
        {
            nameof(ITrainerGrain.Gradients) => Gradient(calls, (TrainingRow[])args![0]!, (double)args[1]!, $"replica {r}: "),
            nameof(ITrainerGrain.Apply) => Apply(calls, applied, (float[])args![0]!, $"replica {r}: "),
            _ => throw new InvalidOperationException($"replica {r} was asked to {method}"),
        });
        var (backend, state, freed, rows) = TwoDevicesOneGenerating(Replica(0), Replica(1));
        string[] By(int r) => [.. calls.Where(c => c.StartsWith($"replica {r}:")).Select(c => c[(c.IndexOf(':') + 2)..].Split(' ')[0])];

        var first = await backend.Step(1, 0, rows, freed);
        var second = await backend.Step(1, 1, rows, freed);

        By(0).Should().Equal("gradients", "gradients", "gradients", "apply", "gradients", "gradients", "gradients", "apply");
        By(1).Should().BeEmpty("device 1 still generates with the weights before the step");
        (first.EarlyRows, second.EarlyRows).Should().Be((3, 3));
        first.GradNorm.Should().Be(1, "the free replica's apply answered");

        state.Generated(1);
        freed.Note(state, w => w, false, _ => false);
        var third = await backend.Step(1, 2, rows, freed);

        By(1).Take(2).Should().Equal(["apply", "apply"], "replica 1 applies the two steps it missed, in order, before it computes");
        By(1).Skip(2).Last().Should().Be("apply");
        By(0).Skip(8).Last().Should().Be("apply");
        applied.Should().HaveCount(6).And.OnlyContain(g => Math.Abs(g.Single() - 2.8f) < 1e-6);
        third.EarlyRows.Should().Be(0);
        third.Actor.Tokens.Should().Be(10);
    }

    [Fact]
    public async Task A_replica_lost_while_applying_the_steps_it_missed_is_rebuilt_from_the_survivor_once_the_step_is_generated()
    {
        var calls = new List<string>();
        var applied = new List<float[]>();
        ITrainerGrain Replica(int r) => Trainer.Answering((method, args) => method switch
        {
            nameof(ITrainerGrain.Gradients) => Gradient(calls, (TrainingRow[])args![0]!, (double)args[1]!, $"replica {r}: "),
            nameof(ITrainerGrain.Apply) when r == 1 => Task.FromException<double>(new SiloUnavailableException("replica 1's silo was killed")),
            nameof(ITrainerGrain.Apply) => Apply(calls, applied, (float[])args![0]!, $"replica {r}: "),
            nameof(ITrainerGrain.Setup) or nameof(ITrainerGrain.SaveState) or nameof(ITrainerGrain.LoadState) => Called(calls, $"replica {r}: {method}"),
            _ => throw new InvalidOperationException($"replica {r} was asked to {method}"),
        });
        var (backend, state, freed, rows) = TwoDevicesOneGenerating(Replica(0), Replica(1));

        await backend.Step(1, 0, rows, freed);
        state.Generated(1);
        freed.Note(state, w => w, false, _ => false);
        var last = await backend.Step(1, 1, rows, freed);

        last.Rebuilt.Should().Be(1, "replica 1 failed to apply the first step once its device was free");
        calls.Should().ContainInOrder("replica 0: apply", "replica 0: apply", "replica 1: Setup", "replica 0: SaveState", "replica 1: LoadState");
        calls.Should().NotContain(c => c.StartsWith("replica 1: gradients"), "a replica that missed a step computes nothing before it is rebuilt");
    }

    /// <summary>
    /// A GRPO job's backend over two replicas on devices 0 and 1, device 1's worker still generating (its sample not yet
    /// generated), and rows of 2, 3 and 5 tokens with advantages 1, 2, 4.
    /// </summary>
    private static (DataParallelBackend Backend, RolloutState State, FreedDevices Freed, TrainingRow[] Rows) TwoDevicesOneGenerating(params ITrainerGrain[] replicas)
    {
        var job = JobSpec.FromJson(Job.Replace("\"ppo\"", "\"grpo\"").Replace("\"miniBatches\": 1", "\"miniBatches\": 1, \"trainingReplicas\": 2"), "job.json");
        var backend = new DataParallelBackend(job, Factory.Of(key => replicas[int.Parse(key.Split('/')[2])]), null);
        var state = new RolloutState(samples: 2, workers: 2);
        var freed = new FreedDevices(2, generating: [0, 1]);
        state.Dispatched(0, 0);
        state.Dispatched(1, 1);
        state.Generated(0);
        freed.Note(state, w => w, false, _ => false);
        return (backend, state, freed, [Row(2, 1), Row(3, 2), Row(5, 4)]);
    }

    private static Task Called(List<string> calls, string call)
    {
        lock (calls) calls.Add(call);
        return Task.CompletedTask;
    }

    private static TrainingRow Row(int tokens, float advantage) =>
        new([1], [.. Enumerable.Repeat(7, tokens)], new float[tokens], [.. Enumerable.Repeat(advantage, tokens)], null, null, null);

    private static Task<GradientShare> Gradient(List<string> calls, TrainingRow[] share, double miniBatchTokens, string by = "")
    {
        lock (calls) calls.Add($"{by}gradients of {share.Length} rows over {miniBatchTokens} tokens");
        var gradient = share.Sum(r => r.Advantages.Sum()) / miniBatchTokens;
        return Task.FromResult(new GradientShare([(float)gradient], new TrainSums(share.Sum(r => r.PolicyTokens), 0, 0, 0, 0, 0)));
    }

    private static Task<double> Apply(List<string> calls, List<float[]> applied, float[] gradient, string by = "")
    {
        lock (calls)
        {
            calls.Add($"{by}apply");
            applied.Add(gradient);
        }
        return Task.FromResult(1.0);
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
