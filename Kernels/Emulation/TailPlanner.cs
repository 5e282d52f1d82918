namespace Kernels.Emulation;

/// <summary>
/// Chooses RLHFuse's migration settings for a step, the share of samples left when the tail is gathered
/// (R_t) and the workers it is gathered on (m), by simulating the step's generation over response lengths
/// (those the job observed in its last step: lengths drift as training goes on) with the cost model. A
/// plan is judged by the device time generation holds, each worker from the step's start to its last
/// busy moment (a freed worker goes on to scoring or the next step), among plans whose generation ends no
/// more than <c>slowdown</c> later than without migration (the tail must not pay for the freed devices).
/// </summary>
public static class TailPlanner
{
    /// <summary>A plan: gather once <see cref="Remaining"/> of the samples are left on <see cref="Workers"/> workers (0 and 0: do not migrate).</summary>
    public sealed record Plan(double Remaining, int Workers, double Seconds, double HeldDeviceSeconds);

    /// <summary>The thresholds tried, as RLHFuse's: a few percent of the step.</summary>
    public static IReadOnlyList<double> Thresholds { get; } = [0.02, 0.05, 0.1, 0.2];

    /// <summary>
    /// The thresholds tried with training early: larger ones too, since the devices a gather frees have the step's
    /// scoring and training to do (on the 65B PPO set-up, 30 % on 8 of 32 workers is predicted best).
    /// </summary>
    public static IReadOnlyList<double> EarlyTrainingThresholds { get; } = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4];

    /// <summary>The plan for a workload's step: its samples' lengths on its generation workers; moved samples travel as <paramref name="transfer"/> says.</summary>
    public static Plan Choose(EmulatedWorkload workload, CacheTransfer? transfer = null, double slowdown = 0.02) =>
        Choose(workload.Generation, workload.WorkerCapacity, workload.GenerationWorkers, Sequences(workload), transfer, slowdown);

    private static EmulatedSequence[] Sequences(EmulatedWorkload workload) => [.. workload.Samples.Select((s, k) => new EmulatedSequence($"{k}", s.Prompt, s.Response))];

    /// <summary>
    /// The plan that holds the least device time among those within <paramref name="slowdown"/> of the
    /// generation time without migration (which is the plan when none is). Targets tried: powers of two below the workers.
    /// </summary>
    public static Plan Choose(CostModel cost, int capacity, int workers, IReadOnlyList<EmulatedSequence> sequences, CacheTransfer? transfer = null, double slowdown = 0.02)
    {
        var (seconds, held) = Simulate(cost, capacity, workers, sequences, 0, 0);
        var best = new Plan(0, 0, seconds, held);
        foreach (var plan in Gathers(cost, capacity, workers, sequences, Thresholds, transfer))
        {
            if (plan.Seconds <= seconds * (1 + slowdown) && plan.HeldDeviceSeconds < best.HeldDeviceSeconds) best = plan;
        }
        return best;
    }

    /// <summary>Each gather simulated: every threshold with targets in powers of two below the workers.</summary>
    private static IEnumerable<Plan> Gathers(CostModel cost, int capacity, int workers, IReadOnlyList<EmulatedSequence> sequences, IReadOnlyList<double> thresholds, CacheTransfer? transfer)
    {
        foreach (var remaining in thresholds)
        {
            for (var m = 1; m < workers; m *= 2)
            {
                var (seconds, held) = Simulate(cost, capacity, workers, sequences, remaining, m, transfer);
                yield return new Plan(remaining, m, seconds, held);
            }
        }
    }

    /// <summary>
    /// The plan for a colocated workload's step trained early (<see cref="ChooseForEarlyTraining(CostModel, int, int, IReadOnlyList{EmulatedSequence}, double, double, CacheTransfer?)"/>):
    /// its scoring and training per device as the ideal bound counts them, and after generation its last mini-batch's training
    /// (<see cref="LastMiniBatchTraining"/>).
    /// </summary>
    public static Plan ChooseForEarlyTraining(EmulatedWorkload workload, CacheTransfer? transfer = null)
    {
        var bound = IdealBound.For(workload);
        return ChooseForEarlyTraining(workload.Generation, workload.WorkerCapacity, workload.GenerationWorkers, Sequences(workload),
            bound.Scoring + bound.Training, LastMiniBatchTraining(workload), transfer);
    }

    /// <summary>
    /// Seconds a colocated step trained early spends on its last mini-batch, each device's share: its samples are those
    /// scored last, which are the step's longest (a sample ends after as many decoding steps as its length), so with
    /// long-tailed lengths it holds far more than its share of the tokens (on the 65B PPO set-up the longest 1,024 of
    /// 4,096 hold 36 % of them: 6.6 s of a step's 18.4 s of training, where a quarter would be 4.6).
    /// </summary>
    public static double LastMiniBatchTraining(EmulatedWorkload workload)
    {
        if (workload.Colocated is not { } devices) throw new ArgumentException("training early is planned for colocated devices: this workload's pools are disaggregated", nameof(workload));
        var size = workload.Samples.Count / workload.TrainingSteps.Count;
        var longest = Enumerable.Range(0, workload.Samples.Count).OrderByDescending(k => workload.Samples[k].Response).ThenBy(k => k).Take(size);
        return IdealBound.TrainingWork(workload, workload.Sequences(longest)) / devices.Devices;
    }

    /// <summary>
    /// With training early on the devices the tail frees (rl.trainEarly), a freed device's time is not idle: it scores
    /// and trains the step while the tail generates. So the plan is the one whose step is predicted soonest, not the
    /// one that frees most without slowing generation: a step takes at least the work each device does (generation's
    /// held device time over the workers, plus <paramref name="otherWork"/>: the scoring and training each device does
    /// in a step) and at least generation's end plus <paramref name="afterGeneration"/> (what cannot begin before the
    /// step is generated: its last mini-batch, which holds the tail). A later end that saves more device time than it
    /// costs wins (on the 65B PPO set-up the tail gathered on 8 of 32 workers at 30 % ends 4.7 s later than without
    /// migration and holds 6.7 s a device less). None where no plan's step is predicted sooner than without migration.
    /// </summary>
    public static Plan ChooseForEarlyTraining(CostModel cost, int capacity, int workers, IReadOnlyList<EmulatedSequence> sequences,
        double otherWork, double afterGeneration, CacheTransfer? transfer = null)
    {
        if (otherWork < 0 || afterGeneration < 0) throw new ArgumentOutOfRangeException(nameof(otherWork), "the step's other work and what follows generation are seconds, 0 or more");
        double Step(Plan plan) => Math.Max(plan.Seconds + afterGeneration, plan.HeldDeviceSeconds / workers + otherWork);
        var none = Simulate(cost, capacity, workers, sequences, 0, 0);
        var best = new Plan(0, 0, none.Seconds, none.Held);
        foreach (var plan in Gathers(cost, capacity, workers, sequences, EarlyTrainingThresholds, transfer))
        {
            if (Step(plan) < Step(best)) best = plan;
        }
        return best;
    }

    /// <summary>
    /// For long-tail instances that take tails (<paramref name="longTail"/>, the first of
    /// <paramref name="workers"/>): the threshold whose simulated generation ends soonest, the instances the
    /// targets (0 and 0 when gathering onto them ends no sooner than generating on the regular workers alone).
    /// </summary>
    public static Plan ChooseForLongTail(CostModel cost, LongTailInstances longTail, int capacity, int workers, IReadOnlyList<EmulatedSequence> sequences, CacheTransfer? transfer = null)
    {
        var (seconds, held) = Simulate(cost, capacity, workers, sequences, 0, 0, transfer, longTail);
        var best = new Plan(0, 0, seconds, held);
        foreach (var remaining in Thresholds)
        {
            var run = Simulate(cost, capacity, workers, sequences, remaining, longTail.Workers, transfer, longTail);
            if (run.Seconds < best.Seconds) best = new Plan(remaining, longTail.Workers, run.Seconds, run.Held);
        }
        return best;
    }

    /// <summary>
    /// A step's generation on <paramref name="workers"/> continuous batches, sequence i dealt to worker i mod
    /// workers; once <paramref name="remaining"/> of them are left (0: never), those not yet finished leave
    /// every worker but the <paramref name="targets"/> holding most of them (with their tokens so far, to be
    /// prefilled again, or those <paramref name="transfer"/> carries with their KV cache) and queue on the
    /// target holding fewest. With <paramref name="longTail"/>, its instances are the first workers: dealt
    /// nothing, decoding on their own cost model, and the gather's targets. Each worker steps on its own clock; the
    /// gather happens at the clock of the step that reached the threshold. Returns when the last sequence
    /// finished and the device time held: each worker's last busy moment, summed.
    /// </summary>
    public static (double Seconds, double Held) Simulate(CostModel cost, int capacity, int workers, IReadOnlyList<EmulatedSequence> sequences, double remaining, int targets,
        CacheTransfer? transfer = null, LongTailInstances? longTail = null)
    {
        if (workers < 1) throw new ArgumentOutOfRangeException(nameof(workers), workers, "at least one worker");
        if (remaining > 0 && (targets < 1 || targets >= workers)) throw new ArgumentOutOfRangeException(nameof(targets), targets, $"between 1 and {workers - 1}");
        if (longTail is not null && (longTail.Workers >= workers || (remaining > 0 && targets != longTail.Workers)))
        {
            throw new ArgumentOutOfRangeException(nameof(longTail), longTail.Workers, $"fewer than the {workers} workers, and the gather's targets");
        }
        var instances = longTail?.Workers ?? 0;
        var batches = Enumerable.Range(0, workers).Select(w => new EmulatedBatch(w < instances ? longTail!.Generation : cost, capacity, transfer?.Link)).ToArray();
        var queues = Enumerable.Range(0, workers).Select(_ => new Queue<EmulatedSequence>()).ToArray();
        for (var i = 0; i < sequences.Count; i++) queues[instances + i % (workers - instances)].Enqueue(sequences[i]);
        var clocks = new double[workers];
        var ready = new PriorityQueue<int, double>(Enumerable.Range(0, workers).Where(w => queues[w].Count > 0).Select(w => (w, 0.0)));
        var (left, gathered) = (sequences.Count, remaining <= 0);
        while (ready.TryDequeue(out var w, out _))
        {
            var (batch, queue) = (batches[w], queues[w]);
            if (batch.Count == 0 && queue.Count == 0) continue;
            while (queue.Count > 0 && (batch.Count == 0 || batch.Fits(queue.Peek()))) batch.Add(queue.Dequeue());
            var (seconds, finished) = batch.Step();
            clocks[w] += seconds;
            left -= finished.Count;
            if (!gathered && left <= remaining * sequences.Count)
            {
                gathered = true;
                int[]? fixedTargets = longTail is null ? null : [.. Enumerable.Range(0, instances)];
                Gather(batches, queues, clocks, clocks[w], targets, ready, s => s.Generated > 0 && transfer is not null && transfer.Carries(cost, s.Context), fixedTargets);
            }
            if (batch.Count > 0 || queue.Count > 0) ready.Enqueue(w, clocks[w]);
        }
        return (clocks.Max(), clocks.Sum());
    }

    private static void Gather(EmulatedBatch[] batches, Queue<EmulatedSequence>[] queues, double[] clocks, double now, int targets, PriorityQueue<int, double> ready,
        Func<EmulatedSequence, bool> carried, int[]? fixedTargets = null)
    {
        int Holding(int w) => batches[w].Count + queues[w].Count;
        var chosen = fixedTargets ?? Enumerable.Range(0, batches.Length).OrderByDescending(Holding).ThenBy(w => w).Take(targets).ToArray();
        var moved = new List<EmulatedSequence>();
        for (var w = 0; w < batches.Length; w++)
        {
            if (chosen.Contains(w) || Holding(w) == 0) continue;
            moved.AddRange(batches[w].Sequences.ToList().Select(s => batches[w].Evict(s.Id)).Select(s => carried(s) ? s with { CacheCarried = true } : s));
            moved.AddRange(queues[w]);
            queues[w].Clear();
        }
        foreach (var sequence in moved)
        {
            var to = chosen.MinBy(Holding);
            queues[to].Enqueue(sequence);
            // A target idle since before the gather starts on the moved samples when they arrive.
            if (batches[to].Count == 0 && queues[to].Count == 1)
            {
                clocks[to] = Math.Max(clocks[to], now);
                ready.Enqueue(to, clocks[to]);
            }
        }
    }
}
