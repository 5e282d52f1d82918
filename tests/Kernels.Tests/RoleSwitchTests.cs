using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>A hybrid device's role switches, by hand from the shapes and links.</summary>
public sealed class RoleSwitchTests
{
    [Fact]
    public void Each_switch_moves_what_the_next_role_needs_over_the_right_link()
    {
        var actor = ModelShape.Parse("qwen2.5-7b");
        var switches = new RoleSwitch(DeviceClass.H800, actor, Critic: null, RewardModel: null, TensorParallel: 2, Devices: 64);
        var pcie = 50e9;
        var optimizer = 1e-5 + 12 * actor.Parameters / 64 / pcie;

        switches.Seconds(DeviceRole.Generation, DeviceRole.Scoring).Should().BeApproximately(1e-5 + actor.WeightBytes / 2 / pcie, 1e-9, "the reference comes in from the host");
        switches.Seconds(DeviceRole.Scoring, DeviceRole.Training).Should().BeApproximately(optimizer, 1e-9, "the optimizer state comes back");
        switches.Seconds(DeviceRole.Training, DeviceRole.Generation).Should().BeApproximately(optimizer + 5e-6 + actor.WeightBytes / 2 / 400e9, 1e-9,
            "the optimizer state leaves and the actor is regathered over the H800's NVLink");
        switches.Seconds(DeviceRole.Scoring, DeviceRole.Generation).Should().Be(0);
        switches.Seconds(DeviceRole.Training, DeviceRole.Training).Should().Be(0);
        switches.RoundSeconds.Should().BeApproximately(1e-5 + actor.WeightBytes / 2 / pcie + 2 * optimizer + 5e-6 + actor.WeightBytes / 2 / 400e9, 1e-9);
    }

    [Fact]
    public void A_critic_and_a_reward_model_make_every_switch_dearer()
    {
        var (actor, critic, reward) = (ModelShape.Parse("llama-65b"), ModelShape.Parse("llama-33b"), ModelShape.Parse("llama-13b"));
        var alone = new RoleSwitch(DeviceClass.A100, actor, null, null, 8, 256);
        var ppo = new RoleSwitch(DeviceClass.A100, actor, critic, reward, 8, 256);

        ppo.Seconds(DeviceRole.Generation, DeviceRole.Scoring).Should().BeApproximately(1e-5 + (actor.WeightBytes + critic.WeightBytes + reward.WeightBytes) / 8 / 25e9, 1e-9, "A100s sit on PCIe Gen4");
        ppo.Seconds(DeviceRole.Scoring, DeviceRole.Training).Should().BeApproximately(1e-5 + 12 * (actor.Parameters + critic.Parameters) / 256 / 25e9, 1e-9);
        ppo.RoundSeconds.Should().BeGreaterThan(alone.RoundSeconds);
    }
}
