using FluentAssertions;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration;
using Grains.Storage;
using Kernels.Ranking;
using Xunit;

namespace Grains.Tests.Iteration;

/// <summary>Checkpoints belong to the job file that wrote them: resume needs that file, and a fresh run of it starts clean.</summary>
public sealed class JobCheckpointsTests : IDisposable
{
    private readonly string directory = Directory.CreateTempSubdirectory("actors-checkpoints-").FullName;
    private readonly LocalCheckpointStore store;

    public JobCheckpointsTests() => store = new LocalCheckpointStore(directory, 1 << 20);

    private static JobSpec File(double learningRate = 1e-3, int iterations = 5) => RlJobTests.Tiny("owned", iterations) with
    {
        Rl = RlJobTests.Tiny("x").Rl! with { ActorLearningRate = learningRate, CheckpointEvery = 1 },
    };

    [Fact]
    public async Task A_resume_takes_the_latest_checkpoint_of_its_own_job_file_even_with_more_iterations()
    {
        await EarlierRun(File(), iterations: 2);

        var latest = await new JobCheckpoints(File(iterations: 9) with { Rl = File().Rl! with { EvalEvery = 3 } }, store).Latest();
        (latest.Iteration, latest.PromptsDrawn, latest.PassedOver.Count).Should().Be((2, 8, 0));
        var other = () => new JobCheckpoints(File(learningRate: 5e-4), store).Latest();
        await other.Should().ThrowAsync<InvalidDataException>().WithMessage("jobs/owned/checkpoints/it-000002/state.json was written by another job file under the name owned*");
    }

    [Fact]
    public async Task A_fresh_run_of_the_same_file_removes_the_earlier_run_and_of_another_file_is_refused_removing_nothing()
    {
        await EarlierRun(File(), iterations: 2);
        var before = await store.ListAsync("jobs/owned/");

        var refused = () => new JobCheckpoints(File(learningRate: 5e-4), store).ClearEarlierRun();
        await refused.Should().ThrowAsync<InvalidOperationException>().WithMessage("job owned already has checkpoints of another job file (latest jobs/owned/checkpoints/it-000002/state.json)*");
        (await store.ListAsync("jobs/owned/")).Should().HaveCount(before.Count, "nothing of the other file's run is lost");

        (await new JobCheckpoints(File(), store).ClearEarlierRun()).Should().Be(before.Count);
        (await store.ListAsync("jobs/owned/")).Should().BeEmpty();
        (await new JobCheckpoints(File(), store).ClearEarlierRun()).Should().Be(0);
    }

    [Fact]
    public async Task A_resume_passes_over_damaged_checkpoints_naming_the_damage_and_takes_the_last_whole_one()
    {
        await EarlierRun(File(), iterations: 3);
        var checkpoints = new JobCheckpoints(File(), store);
        // it-000003: a flipped byte in a part; it-000002: its state cut short.
        var data = Directory.GetFiles(Path.Combine(directory, "jobs", "owned", "checkpoints", "it-000003"), "actor.state*.data").Single();
        var bytes = await System.IO.File.ReadAllBytesAsync(data);
        bytes[0] ^= 0xFF;
        await System.IO.File.WriteAllBytesAsync(data, bytes);
        await store.WriteAsync("jobs/owned/checkpoints/it-000002/state.json", new MemoryStream("{\"Iteration\": 2, \"Se"u8.ToArray()));

        var latest = await checkpoints.Latest();

        (latest.Iteration, latest.PromptsDrawn).Should().Be((1, 4));
        latest.PassedOver.Should().HaveCount(2);
        latest.PassedOver[0].Should().StartWith("jobs/owned/checkpoints/it-000003/state.json: object 'jobs/owned/checkpoints/it-000003/actor.state' is corrupt");
        latest.PassedOver[1].Should().StartWith("jobs/owned/checkpoints/it-000002/state.json: it is not a whole checkpoint state");

        await store.DeleteAsync("jobs/owned/checkpoints/it-000001/actor.state");
        var none = await checkpoints.Latest();
        (none.Iteration, none.PassedOver.Count).Should().Be((0, 3));
        none.PassedOver[2].Should().Be("jobs/owned/checkpoints/it-000001/state.json: its part jobs/owned/checkpoints/it-000001/actor.state is missing");
    }

    [Fact]
    public async Task A_checkpoint_keeps_the_length_rankers_state_as_a_part_it_checks()
    {
        await store.WriteAsync(JobKeys.For(File()).ReferenceWeights, new MemoryStream([1, 2, 3]));
        var checkpoints = new JobCheckpoints(File(), store);
        var state = new RankerState([new PromptHistory(7, 1.5, 3), new PromptHistory(-2, -0.25, 1.5)], [new ObservedScore([5, 6, 7], 0.75)]);
        await checkpoints.Save(1, new OneObjectBackend(store), promptsDrawn: 4, ranker: state);
        await checkpoints.Save(2, new OneObjectBackend(store), promptsDrawn: 8, ranker: state with { History = [] });

        var latest = await checkpoints.Latest();
        latest.Iteration.Should().Be(2);
        latest.Ranker!.History.Should().BeEmpty();

        // A ranker state changed after its checkpoint was written makes that checkpoint damaged: the one before is taken.
        await store.WriteAsync("jobs/owned/checkpoints/it-000002/ranker.json", new MemoryStream("{}"u8.ToArray()));
        latest = await checkpoints.Latest();
        latest.Iteration.Should().Be(1);
        latest.PassedOver.Should().ContainSingle().Which.Should().Contain("ranker.json");
        latest.Ranker.Should().BeEquivalentTo(state);
    }

    private async Task EarlierRun(JobSpec job, int iterations)
    {
        await store.WriteAsync(JobKeys.For(job).ReferenceWeights, new MemoryStream([1, 2, 3]));
        var checkpoints = new JobCheckpoints(job, store);
        for (var i = 1; i <= iterations; i++) await checkpoints.Save(i, new OneObjectBackend(store), promptsDrawn: 4L * i);
    }

    public void Dispose() => Directory.Delete(directory, recursive: true);

    /// <summary>A trainer whose whole state is one object: enough for what a checkpoint holds beside it.</summary>
    private sealed class OneObjectBackend(ICheckpointStore store) : ITrainerBackend
    {
        public Task SaveState(string prefix) => store.WriteAsync($"{prefix}/actor.state", new MemoryStream([42]));

        public double? ExpectedBubble => null;
        public Task Start(int start, Func<ITrainerGrain, Task> warmStart) => throw new NotSupportedException();
        public Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch) => throw new NotSupportedException();
        public Task<PreferenceTrainStep> PreferenceStep(int iteration, int index, PreferenceRow[] batch, PreferenceLossKind loss, double beta) => throw new NotSupportedException();
        public Task Publish(int version) => throw new NotSupportedException();
        public Task<float[][]> ProximalLogProbs(int iteration, int index, TrainingRow[] rows) => throw new NotSupportedException();
        public Task<DeviceUsage[]> TakeUsage() => throw new NotSupportedException();
        public Task Release() => throw new NotSupportedException();
    }
}
