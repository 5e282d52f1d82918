using Client.Chaos;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;

namespace Grains.Tests.Benchmarks;

public sealed class ChaosLayoutTests
{
    private static JobSpec Emulated(int workers, int replicas) => new()
    {
        Name = "w", Kind = JobKind.Rl,
        Rl = new RlSpec { Devices = DeviceKind.Emulated, GenerationWorkers = workers, TrainingReplicas = replicas, Emulation = new EmulationSpec { DeviceClass = "H800" } },
    };

    [Fact]
    public void An_emulated_job_gets_a_silo_per_machine_of_its_device_class_the_last_one_partly_filled()
    {
        // 20 workers over machines of 8: 8 + 8 + 4; GRPO's 3 actor replicas: one machine of 3.
        var layout = LocalCluster.LayoutFor(Emulated(workers: 20, replicas: 3), machineDevices: 8);

        layout.Should().Equal(
            ("gen-0", SiloRoles.Generation, "h800:0-7"), ("gen-1", SiloRoles.Generation, "h800:0-7"), ("gen-2", SiloRoles.Generation, "h800:0-3"),
            ("infer", SiloRoles.Inference, "h800"), ("train-0", SiloRoles.Training, "h800:0-2"));
    }

    [Fact]
    public void A_spare_adds_a_whole_machine_per_role_and_an_inference_silo()
    {
        var layout = LocalCluster.LayoutFor(Emulated(workers: 20, replicas: 3), machineDevices: 8, spares: 1);

        layout.Should().Equal(
            ("gen-0", SiloRoles.Generation, "h800:0-7"), ("gen-1", SiloRoles.Generation, "h800:0-7"), ("gen-2", SiloRoles.Generation, "h800:0-3"),
            ("gen-3", SiloRoles.Generation, "h800:0-7"), ("infer-0", SiloRoles.Inference, "h800"), ("infer-1", SiloRoles.Inference, "h800"),
            ("train-0", SiloRoles.Training, "h800:0-2"), ("train-1", SiloRoles.Training, "h800:0-7"));
        FluentActions.Invoking(() => LocalCluster.LayoutFor(Emulated(8, 1), spares: -1)).Should().Throw<ArgumentOutOfRangeException>().WithMessage("*spares*");
    }

    [Fact]
    public void A_job_on_real_devices_gets_the_five_process_layout_and_a_machine_of_no_device_is_refused()
    {
        LocalCluster.LayoutFor(new JobSpec { Name = "r", Kind = JobKind.Rl, Rl = new RlSpec() }).Should().Equal(LocalCluster.Layout);

        var none = () => LocalCluster.LayoutFor(Emulated(8, 1), machineDevices: 0);
        none.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*machineDevices*");
    }
}
