using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Pipeline;
using Grains.Pipeline;
using Grains.Planning;

namespace Grains.Tests.Pipeline;

public sealed class PipelineScheduleTests
{
    private static readonly ModelLayout Actor = new("actor", Stages: 3, Replicas: 1, MicroBatches: 4);

    private static string Order(PipelinePass[] device) => string.Join(" ", device.Select(p => $"{(p.Backward ? "B" : "F")}{p.MicroBatch}"));

    [Fact]
    public void One_forward_one_backward_warms_up_p_minus_s_minus_one_forwards_then_alternates()
    {
        var schedule = PipelineSchedules.OneForwardOneBackward(Actor);

        schedule.Devices.Select(Order).Should().Equal(
            "F0 F1 F2 B0 F3 B1 B2 B3",
            "F0 F1 B0 F2 B1 F3 B2 B3",
            "F0 B0 F1 B1 F2 B2 F3 B3");
        PipelineSchedules.Problem(schedule).Should().BeNull();
    }

    [Fact]
    public void GPipe_runs_every_forward_then_every_backward_and_replicas_get_their_own_devices()
    {
        var schedule = PipelineSchedules.GPipe(Actor with { Replicas = 2 });

        schedule.Devices.Should().HaveCount(6);
        schedule.Devices.Should().OnlyContain(d => Order(d) == "F0 F1 F2 F3 B0 B1 B2 B3");
        schedule.Devices[4].Should().OnlyContain(p => p.Replica == 1 && p.Stage == 1, "replica r's stage s is on device r x stages + s");
        PipelineSchedules.Problem(schedule).Should().BeNull();
    }

    [Fact]
    public void A_fused_plan_from_the_planner_is_a_valid_two_model_schedule()
    {
        var plan = Baselines.Sequential1F1B(new PipelineProblem(4, 2, 4, 2, 2, 1, 1, 1));

        var schedule = PipelineSchedules.Fused(plan);

        schedule.Models.Should().Equal(new ModelLayout("actor", 4, 1, 4), new ModelLayout("critic", 2, 2, 2));
        schedule.Devices[3].Should().Contain(new PipelinePass(1, 1, 0, 0, false), "the critic's replica 1 starts on the last device");
        PipelineSchedules.Problem(schedule).Should().BeNull();
    }

    [Fact]
    public void Copies_of_a_fused_plan_fill_as_many_devices_with_replicas_numbered_on()
    {
        var schedule = PipelineSchedules.Fused(Baselines.Sequential1F1B(new PipelineProblem(2, 1, 2, 1, 1, 1, 1, 1)));

        var copies = PipelineSchedules.Replicate(schedule, 3);

        copies.Models.Should().Equal(new ModelLayout("actor", 2, 3, 2), new ModelLayout("critic", 1, 6, 1));
        copies.Devices.Should().HaveCount(6);
        copies.Devices[4].Should().Equal(schedule.Devices[0].Select(p => p with { Replica = p.Model == 0 ? 2 : 4 + p.Replica }), "copy 2's first device: actor replica 2, critic replica 4 (2 critic replicas a copy)");
        PipelineSchedules.Problem(copies).Should().BeNull();
    }

    [Fact]
    public void A_colocated_job_runs_its_critics_pipelines_after_its_actors_on_the_same_devices()
    {
        var rl = new RlSpec
        {
            Algorithm = Algorithm.Ppo, Placement = RolePlacement.Colocated, GenerationWorkers = 4, TrainingReplicas = 4, PromptsPerIteration = 16, MiniBatches = 2,
            Pipeline = new PipelineSpec { Stages = 2, CriticStages = 1, MicroBatches = 2 },
        };

        var (schedule, bubble) = JobPipeline.Schedule(rl, seed: 1);

        rl.Problem().Should().BeNull();
        schedule.Models.Should().Equal(new ModelLayout("actor", 2, 2, 2), new ModelLayout("critic", 1, 4, 2));
        schedule.Devices.Should().HaveCount(4, "every colocated device holds a stage of each model");
        schedule.Devices[1].Select(p => (p.Model, p.Replica, p.Stage)).Distinct().Should().Equal((0, 0, 1), (1, 1, 0));
        schedule.Devices[1].TakeWhile(p => p.Model == 0).Should().HaveCount(4, "the actor's passes come first");
        PipelineSchedules.Problem(schedule).Should().BeNull();
        // Each pipeline spans (m + p - 1) passes of which a device works m: 1 - 2 (1 + 1) / ((2 + 1) + (2 + 0)).
        bubble.Should().BeApproximately(0.2, 1e-12);
        JobPipeline.Schedule(rl, 1, new StagePassTimes(3, 1)).ExpectedBubble.Should().BeApproximately(1 - 2 * 4.0 / (3 * 3 + 2), 1e-12, "weighted by each model's pass time");
    }

    [Theory]
    [InlineData(3, null, "rl.pipeline.stages: 3 stages do not divide the 4 colocated devices (each holds one stage of each model)")]
    [InlineData(2, 3, "rl.pipeline.criticStages: 3 stages do not divide the 4 colocated devices (each holds one stage of each model)")]
    [InlineData(4, 2, null)]
    public void A_colocated_pipeline_must_fill_the_devices(int stages, int? criticStages, string? expected)
    {
        var rl = new RlSpec
        {
            Algorithm = Algorithm.Ppo, Placement = RolePlacement.Colocated, GenerationWorkers = 4, TrainingReplicas = 4, PromptsPerIteration = 16, MiniBatches = 2,
            Pipeline = new PipelineSpec { Stages = stages, CriticStages = criticStages, MicroBatches = 2, Schedule = PipelineScheduleKind.Fused },
        };

        rl.Problem().Should().Be(expected);
    }

    [Fact]
    public void Broken_schedules_are_refused_with_the_reason()
    {
        var good = PipelineSchedules.OneForwardOneBackward(Actor);
        PipelinePass[][] With(int device, PipelinePass[] order) => good.Devices.Select((d, i) => i == device ? order : d).ToArray();

        var backwardFirst = good with { Devices = With(2, [.. good.Devices[2].Reverse()]) };
        var twice = good with { Devices = With(0, [.. good.Devices[0], good.Devices[0][0]]) };
        var missing = good with { Devices = With(0, good.Devices[0][..^1]) };
        var split = good with { Devices = [good.Devices[0], good.Devices[1][..4], [.. good.Devices[1][4..], .. good.Devices[2]]] };
        var outside = good with { Devices = With(0, [.. good.Devices[0], new PipelinePass(0, 0, 9, 0, false)]) };
        // Device 0 waits for micro-batch 0's backward before sending micro-batch 1 forward; device 1 wants micro-batch 1 first.
        var crossed = good with { Devices = With(1, [.. good.Devices[1].OrderBy(p => p.MicroBatch != 1)]) };

        PipelineSchedules.Problem(backwardFirst).Should().StartWith("the order cannot be followed").And.Contain("device 2 at B(model 0, replica 0, micro-batch 3, stage 2) waits for F(model 0, replica 0, micro-batch 3, stage 2)");
        PipelineSchedules.Problem(twice).Should().Be("device 0: F(model 0, replica 0, micro-batch 0, stage 0) is listed twice");
        PipelineSchedules.Problem(missing).Should().Be("B(model 0, replica 0, micro-batch 3, stage 0) is on no device");
        PipelineSchedules.Problem(split).Should().Be("actor replica 0 stage 1 has passes on devices 1 and 2; a stage lives on one device");
        PipelineSchedules.Problem(outside).Should().StartWith("device 0: F(model 0, replica 0, micro-batch 9, stage 0) is outside actor's 1 replica(s), 3 stage(s) and 4 micro-batch(es)");
        PipelineSchedules.Problem(crossed).Should().StartWith("the order cannot be followed");
        PipelineSchedules.Problem(good with { Models = [] }).Should().Be("it has no models");
    }

    [Theory]
    [InlineData(4, 8, 3.0 / 11)]
    [InlineData(1, 8, 0.0)]
    [InlineData(8, 32, 7.0 / 39)]
    public void The_analytic_bubble_is_p_minus_one_over_m_plus_p_minus_one(int stages, int microBatches, double expected) =>
        PipelineSchedules.OneForwardOneBackwardBubble(stages, microBatches).Should().BeApproximately(expected, 1e-12);
}
