using Grains.Interfaces.Jobs;

namespace Grains.Tests;

[Collection(ClusterCollection.Name)]
public sealed class JobGrainTests(ClusterFixture fixture)
{
    private static JobSpec Spec(string name, int iterations = 3) => new() { Name = name, Iterations = iterations, StepsPerIteration = 10, Seed = 4 };

    private async Task<JobStatus> WaitUntilFinished(IJobGrain job)
    {
        var status = await job.Status();
        for (var i = 0; i < 300 && !status.IsFinished; i++)
        {
            await Task.Delay(100);
            status = await job.Status();
        }
        return status;
    }

    [Fact]
    public async Task A_submitted_job_runs_every_iteration_and_completes()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("complete");

        var started = await job.Submit(Spec("complete"));
        var finished = await WaitUntilFinished(job);

        started.State.Should().Be(JobState.Running);
        finished.State.Should().Be(JobState.Completed);
        finished.IterationsDone.Should().Be(3);
        finished.LastLoss.Should().BePositive();
        finished.Finished.Should().BeOnOrAfter(finished.Started!.Value);
        (await job.Submit(Spec("complete"))).State.Should().Be(JobState.Completed, "submitting the same spec again changes nothing");
    }

    [Fact]
    public async Task A_cancelled_job_stops_after_its_current_iteration()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("cancelled");
        await job.Submit(Spec("cancelled", iterations: 10_000));

        await job.Cancel();
        var finished = await WaitUntilFinished(job);

        finished.State.Should().Be(JobState.Cancelled);
        finished.IterationsDone.Should().BeLessThan(10_000);
        finished.Message.Should().StartWith($"cancelled after {finished.IterationsDone} of 10000");
    }

    [Fact]
    public async Task Conflicting_or_misnamed_specs_are_refused()
    {
        var job = fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("conflict");
        await job.Submit(Spec("conflict", iterations: 1));

        var different = () => job.Submit(Spec("conflict", iterations: 2));
        var misnamed = () => fixture.Cluster.GrainFactory.GetGrain<IJobGrain>("other").Submit(Spec("conflict"));

        await different.Should().ThrowAsync<InvalidOperationException>().WithMessage("*already exists with a different spec*");
        await misnamed.Should().ThrowAsync<ArgumentException>().WithMessage("*'other' was sent a spec named 'conflict'*");
    }

    [Theory]
    [InlineData("""{"kind":"smoke"}""", "job.json: name: required")]
    [InlineData("""{"name":"a b"}""", "job.json: name: 'a b' must be*")]
    [InlineData("""{"name":"a","kind":"ppo"}""", "job.json: kind: 'ppo' is not one of smoke")]
    [InlineData("""{"name":"a","iterations":0}""", "job.json: iterations: 0 must be*")]
    [InlineData("""{"name":"a","stepsPerIteration":-1}""", "job.json: stepsPerIteration: -1 must be*")]
    [InlineData("""{"name":"a","colour":"red"}""", "job.json: *colour*")]
    [InlineData("""{"name":"a","iterations":"many"}""", "job.json: *iterations*")]
    public void Bad_job_files_name_the_field(string json, string expected)
    {
        var act = () => JobSpec.FromJson(json, "job.json");

        act.Should().Throw<ArgumentException>().WithMessage(expected);
    }

    [Fact]
    public void A_job_file_round_trips()
    {
        var spec = Spec("round-trip");

        JobSpec.FromJson(spec.ToJson()).Should().Be(spec);
    }
}
