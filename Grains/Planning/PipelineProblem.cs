namespace Grains.Planning;

/// <summary>Which model a task belongs to: 0 the actor, 1 the critic.</summary>
public enum PipelineModel { Actor = 0, Critic = 1 }

public enum PassKind { F, B }

/// <summary>
/// One unit of pipeline work: a forward or backward pass of one micro-batch through one stage of one
/// replica of a model, on the device that holds that stage.
/// </summary>
public sealed record PipelineTask(int Index, PipelineModel Model, int Replica, int MicroBatch, int Stage, PassKind Kind, int Device, double Duration, double Memory);

/// <summary>
/// Two models trained on the same P devices in one step. The actor has pp0 = P stages, stage s on
/// device s, with m0 micro-batches. The critic has pp1 stages (pp0 = k pp1) and k replicas; replica r
/// sits on devices r pp1 .. (r + 1) pp1 - 1 in reverse order (its first stage on the last of them),
/// each with m1 micro-batches. A forward takes f, a backward 2f; an in-flight micro-batch (forward
/// done, backward not) holds mem on its device.
/// </summary>
public sealed class PipelineProblem
{
    public PipelineProblem(int pp0, int pp1, int m0, int m1, double f0, double f1, double mem0, double mem1, double? memoryCap = null)
    {
        if (pp0 < 1) throw new ArgumentOutOfRangeException(nameof(pp0), pp0, "pp0 must be at least 1");
        if (pp1 < 1 || pp0 % pp1 != 0) throw new ArgumentOutOfRangeException(nameof(pp1), pp1, $"pp1 must divide pp0 ({pp0})");
        if (m0 < 0 || m1 < 0 || m0 + m1 == 0) throw new ArgumentOutOfRangeException(nameof(m0), "m0 and m1 must be >= 0 and not both 0");
        if (f0 <= 0 || f1 <= 0) throw new ArgumentOutOfRangeException(nameof(f0), "forward times f0 and f1 must be positive");
        if (mem0 < 0 || mem1 < 0) throw new ArgumentOutOfRangeException(nameof(mem0), "memory per micro-batch must be >= 0");
        if (memoryCap is <= 0) throw new ArgumentOutOfRangeException(nameof(memoryCap), memoryCap, "the memory cap must be positive");
        (Pp0, Pp1, M0, M1, F0, F1, Mem0, Mem1, MemoryCap) = (pp0, pp1, m0, m1, f0, f1, mem0, mem1, memoryCap);

        var tasks = new List<PipelineTask>();
        var predecessors = new List<int>();
        void Chain(PipelineModel model, int replica, int microBatch, int stages, Func<int, int> device, double f, double mem)
        {
            var previous = -1;
            for (var s = 0; s < stages; s++) previous = Add(model, replica, microBatch, s, PassKind.F, device(s), f, mem, previous);
            for (var s = stages - 1; s >= 0; s--) previous = Add(model, replica, microBatch, s, PassKind.B, device(s), 2 * f, mem, previous);
        }
        int Add(PipelineModel model, int replica, int microBatch, int stage, PassKind kind, int device, double duration, double mem, int previous)
        {
            tasks.Add(new PipelineTask(tasks.Count, model, replica, microBatch, stage, kind, device, duration, mem));
            predecessors.Add(previous);
            return tasks.Count - 1;
        }
        for (var i = 0; i < m0; i++) Chain(PipelineModel.Actor, 0, i, pp0, s => s, f0, mem0);
        for (var r = 0; r < Replicas; r++)
        {
            for (var i = 0; i < m1; i++) Chain(PipelineModel.Critic, r, i, pp1, s => CriticDevice(r, s), f1, mem1);
        }
        Tasks = tasks;
        Predecessor = [.. predecessors];
    }

    public int Pp0 { get; }
    public int Pp1 { get; }
    public int M0 { get; }
    public int M1 { get; }
    public double F0 { get; }
    public double F1 { get; }
    public double Mem0 { get; }
    public double Mem1 { get; }
    public double? MemoryCap { get; }

    /// <summary>The same problem with no memory cap.</summary>
    public PipelineProblem WithoutCap() => new(Pp0, Pp1, M0, M1, F0, F1, Mem0, Mem1);

    public int Devices => Pp0;
    public int Replicas => Pp0 / Pp1;
    public IReadOnlyList<PipelineTask> Tasks { get; }

    /// <summary>The task each task waits for (the previous pass of its micro-batch), or -1.</summary>
    public int[] Predecessor { get; }

    /// <summary>The device of critic stage s of replica r: the replica's devices in reverse order.</summary>
    public int CriticDevice(int replica, int stage) => (replica + 1) * Pp1 - 1 - stage;

    /// <summary>The critic stage on device d (of the replica that covers it).</summary>
    public int CriticStageOn(int device) => (device / Pp1 + 1) * Pp1 - 1 - device;
}
