namespace Kernels.Emulation;

/// <summary>
/// A lower bound on one step of an emulated workload in steady state, for a placement (the workload's:
/// colocated or disaggregated pools) and a staleness k (0: each step generated with the weights it trains),
/// whatever the scheduling: the larger of the pools' work and the critical path.
///
/// Work, in seconds of each pool (an instance of tensor-parallel degree t counts t devices):
/// - generation: every prompt prefilled in one batch, and every response token decoded at its share of a
///   decoding step of the largest batch a worker can hold: its capacity, what its KV cache holds at the
///   samples' mean length, and the samples that can be in flight at once, (k + 1) steps' over every worker
///   (a worker with few sequences reads all its weights for each token as one with many: decoding is
///   memory-bound, and a step's samples spread over many workers cannot fill them); each token's context
///   (the keys and values it reads) is its prompt and the response before it, so the step's decoding reads
///   sum_i (P_i L_i + L_i (L_i - 1) / 2) of them (summed over steps, a roofline step's larger term is at
///   least the sums' larger over as many steps: the bound holds);
/// - scoring: each scoring model's forward over every sequence; training: the actor's (and critic's)
///   forward and backward over every sequence, and with decoupled PPO on stale samples the actor's forward over
///   the rows after the first optimizer step (their proximal log-probs; <see cref="EmulatedWorkload.ProximalForward"/>).
/// Colocated, every device runs every stage in turn: generation + scoring + training, each over all devices.
/// Disaggregated, each pool its own: synchronous (k = 0), a step's training waits for its generation and
/// the next generation for the new weights (scoring may overlap generation); asynchronous, the pools overlap
/// across steps and the busiest sets the pace.
///
/// Critical path: the sample with the longest sequence, prefilled and decoded alone (batch one, the cheapest
/// a decoding step can be; on a long-tail instance where the workload has them, the fastest), scored, trained
/// on, and the weights sent; step i's samples are launched when version i - 1 - k is published, so k + 1
/// steps share one such path. (A long-tail instance's devices count in the generation pool's, at a regular
/// worker's cost per token: spread over more devices, a token costs no fewer device-seconds.)
/// </summary>
public sealed record IdealBound(double Generation, double Scoring, double Training, bool Colocated, int Staleness, double CriticalPath)
{
    /// <summary>Seconds a step needs from the pools' work alone.</summary>
    public double Work => Colocated ? Generation + Scoring + Training
        : Staleness == 0 ? Math.Max(Generation, Scoring) + Training
        : Math.Max(Generation, Math.Max(Scoring, Training));

    public double Seconds => Math.Max(Work, CriticalPath / (Staleness + 1));

    public static IdealBound For(EmulatedWorkload w, int staleness = 0)
    {
        if (staleness < 0) throw new ArgumentOutOfRangeException(nameof(staleness), staleness, "a staleness is 0 or more versions");
        var sequences = w.Sequences(Enumerable.Range(0, w.Samples.Count));
        var (meanPrompt, meanResponse) = (w.Samples.Average(s => (double)s.Prompt), w.Samples.Average(s => (double)s.Response));
        var inFlight = Math.Ceiling((staleness + 1.0) * w.Samples.Count / w.GenerationWorkers);
        var batch = (int)Math.Max(1, Math.Min(Math.Min(w.WorkerCapacity, inFlight), w.Generation.MaxCachedTokens() / (meanPrompt + meanResponse)));
        // A token decoded at position t of its response reads its prompt and t tokens of keys and values, whatever
        // the batching: over the step, the contexts' sum is sum_i (P_i L_i + L_i (L_i - 1) / 2). Per token, that
        // is the token-weighted mean context, which a long tail raises well above the mean prompt + half the mean
        // response (a response's reads grow with the square of its length).
        var tokens = w.Samples.Sum(s => (double)s.Response);
        var context = tokens > 0 ? w.Samples.Sum(s => (double)s.Prompt * s.Response + s.Response * (s.Response - 1.0) / 2) / tokens : meanPrompt;
        var perToken = w.Generation.DecodeStepSeconds(batch, batch * context) / batch;
        var generation = w.Generation.TensorParallel * (w.Generation.PrefillSeconds(w.Samples.Select(s => s.Prompt).ToArray())
            + perToken * tokens);
        var scoring = w.Scoring.Sum(m => m.TensorParallel * m.ForwardSeconds(sequences));
        int[] proximal = w.ProximalForward ? [.. Enumerable.Range(0, w.Samples.Count).Except(w.TrainingSteps[0].SelectMany(share => share))] : [];
        var training = TrainingWork(w, sequences)
            + (proximal.Length > 0 ? w.ActorTraining.TensorParallel * w.ActorTraining.ForwardSeconds(w.Sequences(proximal)) : 0);

        var longest = w.Samples.MaxBy(s => s.Prompt + s.Response);
        var fastest = w.LongTail?.Generation ?? w.Generation;
        var decoding = 0.0;
        for (var t = 0; t < longest.Response; t++) decoding += fastest.DecodeStepSeconds([longest.Prompt + t]);
        var sequence = longest.Prompt + longest.Response;
        var path = fastest.PrefillSeconds([longest.Prompt]) + decoding + w.Scoring.Sum(m => m.ForwardSeconds([sequence]))
            + Math.Max(w.ActorTraining.TrainingSeconds([sequence]), w.CriticTraining?.TrainingSeconds([sequence]) ?? 0)
            + (w.Colocated is null ? w.Generation.WeightTransferSeconds(w.WeightLink) : 0);

        if (w.Colocated is { } hybrid) return new IdealBound(generation / hybrid.Devices, scoring / hybrid.Devices, training / hybrid.Devices, true, staleness, path);
        var trainingDevices = w.TrainingSteps[0].Count * (w.ActorTraining.TensorParallel + (w.CriticTraining?.TensorParallel ?? 0));
        return new IdealBound(generation / w.GenerationDevices, scoring / (w.InferenceDevices * w.Scoring[0].TensorParallel),
            training / trainingDevices, false, staleness, path);
    }

    /// <summary>Device-seconds to train the actor (and critic) on sequences of these lengths (prompt and response): forward and backward over each, on every device of a replica.</summary>
    public static double TrainingWork(EmulatedWorkload w, int[] sequences) =>
        w.ActorTraining.TensorParallel * w.ActorTraining.TrainingSeconds(sequences)
        + (w.CriticTraining is { } c ? c.TensorParallel * c.TrainingSeconds(sequences) : 0);
}
