using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Pipeline;

namespace Grains.Tests;

/// <summary>Whole PPO jobs whose actor and critic train pipeline-parallel on stage grains.</summary>
[Collection(ClusterCollection.Name)]
public sealed class PipelinedJobTests(ClusterFixture fixture)
{
    private static JobSpec Ppo(string name, PipelineSpec? pipeline = null, int iterations = 2) => RlJobTests.Tiny(name, iterations) with
    {
        Rl = RlJobTests.Tiny("x").Rl! with { Algorithm = Algorithm.Ppo, Pipeline = pipeline, CheckpointEvery = 1 },
    };

    [Theory]
    [InlineData("1f1b", 2, null, 1.0 / 3)]
    [InlineData("gpipe", 4, 2, (3.0 / 5 * 4 + 1.0 / 3 * 2) / 6)]
    [InlineData("fused", 2, 1, null)]
    public async Task A_pipelined_job_trains_like_one_trainer_per_model(string schedule, int stages, int? criticStages, double? expectedBubble)
    {
        var pipeline = new PipelineSpec { Stages = stages, CriticStages = criticStages, MicroBatches = 2, Schedule = SpecNames.Parse<PipelineScheduleKind>(schedule) };
        var (plainStatus, plain) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Ppo($"pp-plain-{schedule}"));
        var (status, pipelined) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Ppo($"pp-job-{schedule}", pipeline));

        plainStatus.State.Should().Be(JobState.Completed, plainStatus.Message);
        status.State.Should().Be(JobState.Completed, status.Message);
        pipelined.Select(m => m.Iteration).Should().Equal(0, 1, 2);
        pipelined[0].HeldOutAccuracy.Should().Be(plain[0].HeldOutAccuracy, "both start from the same warm start");
        for (var i = 1; i <= 2; i++)
        {
            pipelined[i].PolicyLoss.Should().BeApproximately(plain[i].PolicyLoss, 1e-4, $"iteration {i}");
            pipelined[i].ValueLoss!.Value.Should().BeApproximately(plain[i].ValueLoss!.Value, 1e-4, $"iteration {i}");
            pipelined[i].RewardMean.Should().Be(plain[i].RewardMean, "the same weights sample the same responses");
            pipelined[i].PipelineBubble.Should().BeInRange(0, 1);
            plain[i].PipelineBubble.Should().BeNull();
            if (expectedBubble is { } bubble) pipelined[i].PipelineBubbleExpected.Should().BeApproximately(bubble, 1e-12);
            else pipelined[i].PipelineBubbleExpected.Should().BeInRange(0, 1, "a fused plan's own bubble rate");
            pipelined[i].DeviceBusy.Keys.Should().Contain($"pp-job-{schedule}/pp/d0");
        }
    }

    /// <summary>
    /// One step ahead with decoupled PPO: the proximal policy's log-probs come from forward passes through the
    /// actor's stages, so the pipelined job trains the numbers the data-parallel one does.
    /// </summary>
    [Fact]
    public async Task An_asynchronous_pipelined_job_trains_one_step_ahead_as_the_data_parallel_one()
    {
        JobSpec Async(string name, PipelineSpec? pipeline) => RlJobTests.Tiny(name, iterations: 3) with
        {
            Rl = RlJobTests.Tiny("x").Rl! with { GenerationWorkers = 2, Async = new AsyncSpec { MaxStaleness = 1 }, Pipeline = pipeline },
        };
        var pipeline = new PipelineSpec { Stages = 2, MicroBatches = 2, Schedule = PipelineScheduleKind.OneForwardOneBackward };

        var (plainStatus, plain) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Async("pp-async-plain", null));
        var (status, pipelined) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Async("pp-async", pipeline));

        plainStatus.State.Should().Be(JobState.Completed, plainStatus.Message);
        status.State.Should().Be(JobState.Completed, status.Message);
        pipelined.Skip(1).Select(m => m.VersionLagMax).Should().Equal(0, 1, 1);
        for (var i = 1; i <= 3; i++)
        {
            pipelined[i].RewardMean.Should().Be(plain[i].RewardMean, $"iteration {i}: the same weights sample the same responses");
            pipelined[i].PolicyLoss.Should().BeApproximately(plain[i].PolicyLoss, 1e-4, $"iteration {i}: the decoupled loss over the same proximal log-probs");
            pipelined[i].DeviceBusy.Keys.Should().Contain("pp-async/pp/d1");
        }
    }

    [Fact]
    public async Task A_colocated_job_trains_its_fused_pipeline_on_the_devices_that_generated_as_on_devices_of_their_own()
    {
        // Two colocated devices each hold a worker, the scorer's work and one actor and one critic stage of the
        // fused plan; the same plan on training devices of their own must train the same numbers.
        var pipeline = new PipelineSpec { Stages = 2, CriticStages = 1, MicroBatches = 2, Schedule = PipelineScheduleKind.Fused };
        var apart = Ppo("pp-fused-apart", pipeline) with { Rl = Ppo("x").Rl! with { Pipeline = pipeline, GenerationWorkers = 2 } };
        var together = apart with { Name = "pp-fused-together", Rl = apart.Rl with { Placement = RolePlacement.Colocated, TrainingReplicas = 2 } };

        var (apartStatus, apartMetrics) = await RlJobTests.Run(fixture.Cluster.GrainFactory, apart);
        var (status, metrics) = await RlJobTests.Run(fixture.Cluster.GrainFactory, together);

        apartStatus.State.Should().Be(JobState.Completed, apartStatus.Message);
        status.State.Should().Be(JobState.Completed, status.Message);
        for (var i = 1; i <= 2; i++)
        {
            metrics[i].RewardMean.Should().Be(apartMetrics[i].RewardMean);
            metrics[i].PolicyLoss.Should().Be(apartMetrics[i].PolicyLoss, $"iteration {i}");
            metrics[i].ValueLoss.Should().Be(apartMetrics[i].ValueLoss, $"iteration {i}");
            metrics[i].PipelineBubbleExpected.Should().Be(apartMetrics[i].PipelineBubbleExpected, "one plan, one copy of it");
            metrics[i].DeviceBusy.Keys.Should().Contain(["pp-fused-together/g0@pp-fused-together/d0", "pp-fused-together/g1@pp-fused-together/d1", "pp-fused-together/pp/d1"]);
        }
    }

    [Fact]
    public async Task A_resumed_pipelined_job_continues_exactly_as_one_that_never_stopped()
    {
        var pipeline = new PipelineSpec { Stages = 2, MicroBatches = 2 };
        var (_, whole) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Ppo("pp-whole", pipeline, iterations: 3));
        var (first, _) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Ppo("pp-resumed", pipeline, iterations: 2));
        var (resumed, metrics) = await RlJobTests.Run(fixture.Cluster.GrainFactory, Ppo("pp-resumed", pipeline, iterations: 3), resume: true);

        first.State.Should().Be(JobState.Completed, first.Message);
        resumed.State.Should().Be(JobState.Completed, resumed.Message);
        var last = metrics.Single(m => m.Iteration == 3);
        last.PolicyLoss.Should().Be(whole.Single(m => m.Iteration == 3).PolicyLoss, "the stages' weights and optimizer states come back from the checkpoint");
        last.ValueLoss.Should().Be(whole.Single(m => m.Iteration == 3).ValueLoss);
    }

    [Theory]
    [InlineData("""{"stages":0}""", "rl.pipeline.stages: 0 must be between 1 and 64")]
    [InlineData("""{"schedule":"zero-bubble"}""", "rl.pipeline.schedule: 'zero-bubble' is not one of 1f1b, gpipe, fused")]
    [InlineData("""{"wire":"fp8"}""", "rl.pipeline.wire: 'fp8' is not one of fp32, bf16")]
    [InlineData("""{"microBatches":9}""", "rl.pipeline.microBatches: 9 micro-batches exceed the 8 samples of a replica's mini-batch share")]
    [InlineData("""{"schedule":"fused","stages":2,"criticStages":2,"microBatches":2}""", null)]
    [InlineData("""{"schedule":"fused","stages":4,"criticStages":3}""", "rl.pipeline.criticStages: 3 must divide the actor's 4 stages")]
    public void Bad_pipeline_sections_name_the_field(string pipeline, string? expected)
    {
        var json = """{"name":"a","kind":"rl","rl":{"algorithm":"ppo","promptsPerIteration":4,"samplesPerPrompt":4,"miniBatches":2,"pipeline":""" + pipeline + "}}";

        var parse = () => JobSpec.FromJson(json, "job.json");

        if (expected is null) parse.Should().NotThrow();
        else parse.Should().Throw<ArgumentException>().WithMessage($"job.json*: {expected}");
    }

    [Fact]
    public void A_fused_pipeline_needs_a_critic_and_an_emulated_one_colocated_devices()
    {
        var grpo = RlJobTests.Tiny("x").Rl! with { Pipeline = new PipelineSpec { Schedule = PipelineScheduleKind.Fused } };
        var replicas = RlJobTests.Tiny("x").Rl! with { Algorithm = Algorithm.Ppo, TrainingReplicas = 2, Pipeline = new PipelineSpec { Schedule = PipelineScheduleKind.Fused } };
        var emulated = RlJobTests.Tiny("x").Rl! with { Devices = DeviceKind.Emulated, Emulation = new EmulationSpec(), Pipeline = new PipelineSpec { Stages = 1 } };

        grpo.Problem().Should().Be("rl.pipeline.schedule: 'fused' trains a critic in the actor's bubbles; grpo has none");
        replicas.Problem().Should().BeNull("each replica runs a copy of the plan");
        emulated.Problem().Should().Be("rl.pipeline: on emulated devices only with placement 'colocated' (an emulated disaggregated job trains data-parallel)");
        (emulated with { Placement = RolePlacement.Colocated }).Problem().Should().BeNull();
    }
}
