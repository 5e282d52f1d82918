using Grains.Engines;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Tests;

/// <summary>Generation and training in two datacenters (rl.emulation.crossDatacenterLink): each weights version crosses between them once and fans out in a tree.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CrossDatacenterTests(ClusterFixture fixture)
{
    private static JobSpec Job(string name, string? crossing) => new()
    {
        Name = name,
        Kind = JobKind.Rl,
        Iterations = 3,
        Seed = 5,
        Rl = new RlSpec
        {
            Algorithm = Algorithm.Grpo, Devices = DeviceKind.Emulated, PromptsPerIteration = 6, SamplesPerPrompt = 4, MiniBatches = 2,
            GenerationWorkers = 6, TrainingReplicas = 2, MaxBatch = 8, Dispatch = DispatchPolicy.Pull, Async = new AsyncSpec { MaxStaleness = 1 },
            Emulation = new EmulationSpec
            {
                DeviceClass = "H100", Actor = "qwen2.5-7b", InferenceDevices = 2, Lengths = "chat", PromptLength = 128, TimeScale = 20,
                CrossDatacenterLink = crossing,
            },
        },
    };

    [Fact]
    public void A_version_crosses_the_datacenters_link_once_then_each_level_of_the_tree_copies_it_over_the_weight_link()
    {
        var cost = new CostModel(DeviceClass.Parse("H800"), ModelShape.Parse("qwen2.5-7b"));
        var (infiniband, crossing) = (Link.Parse("infiniband-400g"), Link.Parse("cross-dc-100g"));
        // 15.2 GB of bf16 weights: about 1.22 s over 12.5 GB/s (+ 5 ms), 0.30 s over 50 GB/s.
        var across = cost.Model.WeightBytes / crossing.Bandwidth + crossing.LatencySeconds;
        var inside = cost.Model.WeightBytes / infiniband.Bandwidth + infiniband.LatencySeconds;

        EmulatedGenerationEngine.WeightSeconds(cost, infiniband, null, 80).Should().BeApproximately(inside, 1e-9);
        // 80 workers: a tree of depth ceil(log2 81) = 7 below the link.
        EmulatedGenerationEngine.WeightSeconds(cost, infiniband, crossing, 80).Should().BeApproximately(across + 7 * inside, 1e-9);
        EmulatedGenerationEngine.WeightSeconds(cost, infiniband, crossing, 1).Should().BeApproximately(across + inside, 1e-9, "one worker: the crossing, then one hop to it");
    }

    [Fact]
    public async Task Workers_in_the_other_datacenter_spend_the_crossing_and_the_tree_on_each_version_and_train_every_sample()
    {
        var grains = fixture.Cluster.GrainFactory;
        var spec = Job("cross-dc", "cross-dc-100g");
        var generator = new EmulatedJob(spec).Generator;
        var cost = EmulatedCosts.Of(generator.Device);
        var expected = cost.WeightTransferSeconds(Link.Parse("cross-dc-100g")) + 3 * cost.WeightTransferSeconds(Link.Parse("infiniband-400g"));

        var (status, metrics) = await RlJobTests.Run(grains, spec);

        status.State.Should().Be(JobState.Completed, status.Message);
        var weights = metrics.SelectMany(m => m.Timeline.Where(t => t.Holder.Contains("/g")).SelectMany(t => t.Bars)).Where(b => b.Stage == "weights").ToArray();
        weights.Should().NotBeEmpty();
        weights.Should().OnlyContain(b => Math.Abs(b.End - b.Start - expected) < 0.02 * expected, "6 workers: the crossing, then a tree of depth 3 over InfiniBand");
        metrics.Should().OnlyContain(m => m.Ledger!.Lost == 0 && m.Ledger.Trained == 24);
    }

    [Fact]
    public void A_crossing_for_colocated_devices_or_an_unknown_link_is_refused_naming_the_field()
    {
        var colocated = EmulatedJob.ColocatedAtSameDevices(Job("cross-dc-colocated", null));
        colocated = colocated with { Rl = colocated.Rl! with { Emulation = colocated.Rl.Emulation! with { CrossDatacenterLink = "cross-dc-100g" } } };
        var unknown = Job("cross-dc-unknown", "carrier-pigeon");

        ((Func<EmulatedJob>)(() => new EmulatedJob(colocated))).Should().Throw<ArgumentException>().WithMessage("rl.emulation.crossDatacenterLink: colocated roles share their devices*");
        ((Func<EmulatedJob>)(() => new EmulatedJob(unknown))).Should().Throw<ArgumentException>().WithMessage("rl.emulation.crossDatacenterLink: *carrier-pigeon*");
    }
}
