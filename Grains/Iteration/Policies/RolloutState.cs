namespace Grains.Iteration.Policies;

/// <summary>
/// What the policies see of one step's rollout: where each sample is, each worker's load, which workers
/// are still generating an older step's samples (and cannot admit this step's yet), and the step's clock.
/// The scheduler records events here before it asks a policy; policies only read it.
/// </summary>
public sealed class RolloutState
{
    private readonly int[] workerOf;
    private readonly bool[] generated;
    private readonly bool[] scored;
    private readonly int[] load;
    private readonly bool[] behind;
    private readonly bool[] discarded;

    public RolloutState(int samples, int workers)
    {
        if (samples < 1) throw new ArgumentOutOfRangeException(nameof(samples), samples, "a step needs at least one sample");
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "a step needs at least one generation worker");
        (workerOf, generated, scored, load, behind, discarded) = (Enumerable.Repeat(-1, samples).ToArray(), new bool[samples], new bool[samples], new int[workers], new bool[workers], new bool[samples]);
    }

    public int Samples => workerOf.Length;
    public int Workers => load.Length;
    public int GeneratedCount { get; private set; }
    /// <summary>Samples given a worker so far (a moved one counts once).</summary>
    public int DispatchedCount { get; private set; }
    public int ScoredCount { get; private set; }
    /// <summary>Seconds since the step began, by the scheduler's clock.</summary>
    public double Clock { get; set; }

    public bool AllGenerated => GeneratedCount == Samples;
    public bool AllScored => ScoredCount == Samples;

    /// <summary>The worker a sample was dispatched to, or -1.</summary>
    public int WorkerOf(int sample) => workerOf[sample];

    /// <summary>Samples dispatched to a worker and not yet generated.</summary>
    public int Load(int worker) => load[worker];

    public bool IsGenerated(int sample) => generated[sample];

    /// <summary>
    /// The worker is generating samples of a step launched before this one and, without partial rollouts,
    /// admits this step's only once those are done: samples sent there now would wait.
    /// </summary>
    public bool Behind(int worker) => behind[worker];

    public void SetBehind(int worker, bool value) => behind[worker] = value;

    public bool IsScored(int sample) => scored[sample];

    public void Dispatched(int sample, int worker)
    {
        if (workerOf[sample] >= 0) throw new InvalidOperationException($"sample {sample} is already on worker {workerOf[sample]}");
        (workerOf[sample], load[worker]) = (worker, load[worker] + 1);
        DispatchedCount++;
    }

    /// <summary>A sample whose worker was lost goes to another, not yet generated.</summary>
    public void Moved(int sample, int worker)
    {
        if (workerOf[sample] < 0 || generated[sample] || discarded[sample]) throw new InvalidOperationException($"sample {sample} is not on a worker, waiting for its response");
        (load[workerOf[sample]], workerOf[sample], load[worker]) = (load[workerOf[sample]] - 1, worker, load[worker] + 1);
    }

    /// <summary>A sample out of the step (its tail-batching round ended without it): no longer its worker's load; a late report of it is ignored.</summary>
    public void Discarded(int sample)
    {
        if (discarded[sample]) return;
        discarded[sample] = true;
        if (workerOf[sample] >= 0 && !generated[sample]) load[workerOf[sample]]--;
    }

    public bool IsDiscarded(int sample) => discarded[sample];

    /// <summary>Records a generated sample; false if it was already (a repeated report) or was discarded.</summary>
    public bool Generated(int sample)
    {
        if (generated[sample] || discarded[sample]) return false;
        if (workerOf[sample] < 0) throw new InvalidOperationException($"sample {sample} was generated but never dispatched");
        (generated[sample], load[workerOf[sample]]) = (true, load[workerOf[sample]] - 1);
        GeneratedCount++;
        return true;
    }

    /// <summary>Records a scored sample; false if it was already.</summary>
    public bool Scored(int sample)
    {
        if (scored[sample]) return false;
        if (!generated[sample]) throw new InvalidOperationException($"sample {sample} was scored before it was generated");
        scored[sample] = true;
        ScoredCount++;
        return true;
    }
}
