using FluentAssertions;
using Grains.Engines;
using Grains.Interfaces.Jobs;
using Kernels.Emulation;

namespace Grains.Tests.Engines;

public sealed class EmulatedWorkloadTests
{
    [Fact]
    public void Streamed_training_takes_no_proximal_forward_where_a_whole_step_takes_one_for_the_rows_after_its_first_optimizer_step()
    {
        var whole = Job(new AsyncSpec { MaxStaleness = 2 });
        var streamed = Job(new AsyncSpec { MaxStaleness = 2, StreamTraining = true });

        var wholeSteps = new EmulatedJob(whole).Workload(3);
        var streamedSteps = new EmulatedJob(streamed).Workload(3);

        // Decoupled PPO on stale samples: a whole step's rows after its first optimizer step take the actor's forward
        // under the weights before the step's first update; a streamed mini-batch is trained once, by the step whose
        // weights are its proximal policy, so that step's own forward gives them.
        wholeSteps.ProximalForward.Should().BeTrue();
        streamedSteps.ProximalForward.Should().BeFalse();
        new EmulatedJob(Job(new AsyncSpec { MaxStaleness = 2, Decoupled = false })).Workload(3).ProximalForward.Should().BeFalse("plain PPO has no proximal policy");
        IdealBound.For(streamedSteps, 2).Training.Should().BeLessThan(IdealBound.For(wholeSteps, 2).Training);
        IdealBound.For(streamedSteps with { ProximalForward = true }, 2).Training.Should().Be(IdealBound.For(wholeSteps, 2).Training, "the forward is all that differs");
    }

    private static JobSpec Job(AsyncSpec async) => new()
    {
        Name = "w", Kind = JobKind.Rl, Iterations = 4, Seed = 3,
        Rl = new RlSpec
        {
            Devices = DeviceKind.Emulated, PromptsPerIteration = 16, SamplesPerPrompt = 4, GenerationWorkers = 8, TrainingReplicas = 2, MaxBatch = 16,
            MiniBatches = 4, Epochs = 1, Async = async,
            Emulation = new EmulationSpec { DeviceClass = "H800", Actor = "qwen2.5-7b", InferenceDevices = 2, Lengths = "reasoning", PromptLength = 256 },
        },
    };
}
