namespace Kernels.Emulation;

/// <summary>What a hybrid (colocated) device is doing: generating, scoring, or training.</summary>
public enum DeviceRole { Generation, Scoring, Training }

/// <summary>
/// What it costs a hybrid device to change roles, as a colocated system (verl's hybrid engine) pays it.
/// The pool's n devices form groups of t tensor-parallel devices; training shards parameters, gradients
/// and AdamW's fp32 state (12 bytes per parameter) over all n devices (ZeRO-3/FSDP); the frozen
/// reference and reward model, and the optimizer state, wait in host memory while another role runs.
/// Each move is latency + bytes / bandwidth (<see cref="CostModel.TransferSeconds"/>):
/// <list type="bullet">
/// <item>leaving training: the optimizer state goes to the host, 12 (P_actor + P_critic) / n bytes over PCIe;</item>
/// <item>training to generation: the actor's weights are regathered from the training shards into the
/// inference layout, W_actor / t bytes over the node's NVLink (an all-gather each device receives);</item>
/// <item>entering scoring: the KV cache is freed (no transfer) and the reference, critic and reward
/// model weights come in, (W_ref + W_critic + W_rm) / t bytes over PCIe;</item>
/// <item>entering training: the optimizer state comes back, 12 (P_actor + P_critic) / n bytes over PCIe.</item>
/// </list>
/// Scoring back to generation keeps the actor where it was and costs nothing.
/// </summary>
public sealed record RoleSwitch(DeviceClass Device, ModelShape Actor, ModelShape? Critic, ModelShape? RewardModel, int TensorParallel, int Devices)
{
    private const double OptimizerBytesPerParameter = 12;

    public double Seconds(DeviceRole from, DeviceRole to)
    {
        if (from == to) return 0;
        var seconds = 0.0;
        if (from == DeviceRole.Training) seconds += OptimizerMove;
        if (from == DeviceRole.Training && to == DeviceRole.Generation) seconds += CostModel.TransferSeconds(Actor.WeightBytes / TensorParallel, Link.WithinNode(Device));
        if (to == DeviceRole.Scoring) seconds += CostModel.TransferSeconds(ScoringWeightBytes / TensorParallel, Link.ToHost(Device));
        if (to == DeviceRole.Training) seconds += OptimizerMove;
        return seconds;
    }

    /// <summary>One round (generation, scoring, training, and back to generation): what a colocated step pays in switches.</summary>
    public double RoundSeconds => Seconds(DeviceRole.Generation, DeviceRole.Scoring) + Seconds(DeviceRole.Scoring, DeviceRole.Training)
        + Seconds(DeviceRole.Training, DeviceRole.Generation);

    private double TrainedParameters => Actor.Parameters + (Critic?.Parameters ?? 0);

    private double OptimizerMove => CostModel.TransferSeconds(OptimizerBytesPerParameter * TrainedParameters / Devices, Link.ToHost(Device));

    private double ScoringWeightBytes => Actor.WeightBytes + (Critic?.WeightBytes ?? 0) + (RewardModel?.WeightBytes ?? 0);
}
