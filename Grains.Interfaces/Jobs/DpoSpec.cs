namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "dpo" section of a job file (kind "dpo"): offline preference pairs and the loss trained on them. The
/// rl section's model, task (for the held-out greedy accuracy), warm start, learning rate, training replicas, pipeline
/// (the pairs cut over its micro-batches), generation workers (which evaluate), checkpoints and initial weights apply;
/// its RL-only settings must stay unset.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record DpoSpec
{
    /// <summary>A JSONL file of preference pairs on the silos' machines, one {"prompt", "chosen", "rejected"} per line (<c>actors dataset pairs</c> makes one from a job's samples).</summary>
    [Id(0)] public string Pairs { get; init; } = "";
    /// <summary>Pairs drawn out of the file (seeded) and never trained on: the held-out preference accuracy is measured on them.</summary>
    [Id(1)] public int HeldOutPairs { get; init; } = 64;
    /// <summary>sigmoid (DPO) or ipo.</summary>
    [Id(2)] public PreferenceLossKind Loss { get; init; } = PreferenceLossKind.Sigmoid;
    /// <summary>DPO's beta: the implicit reward is beta x the log-ratio to the reference (IPO's tau).</summary>
    [Id(3)] public double Beta { get; init; } = 0.1;
    /// <summary>Pairs per iteration (a seeded permutation per epoch), cut into the rl section's miniBatches optimizer steps.</summary>
    [Id(4)] public int PairsPerIteration { get; init; } = 32;
    /// <summary>
    /// A checkpoint-store object to measure the implicit rewards against instead of the actor's start (its warm
    /// start or initial weights): so models trained elsewhere (a merge, a GRPO job) are compared against one reference.
    /// </summary>
    [Id(5)] public string? Reference { get; init; }

    /// <summary>The pairs of an iteration's smallest optimizer step (its pairs cut into rl.miniBatches in order).</summary>
    public int SmallestStep(RlSpec rl)
    {
        var size = (PairsPerIteration + rl.MiniBatches - 1) / rl.MiniBatches;
        return PairsPerIteration - (PairsPerIteration - 1) / size * size;
    }

    /// <summary>A pipelined DPO job cuts each step's pairs over its pipeline replicas' micro-batches: every one needs a pair.</summary>
    private string? PipelineShares(RlSpec rl) => rl.Pipeline is { } p && p.Replicas(rl) * p.MicroBatches > SmallestStep(rl)
        ? $"rl.pipeline.microBatches: {p.Replicas(rl)} replica(s) x {p.MicroBatches} micro-batches exceed the {SmallestStep(rl)} pairs of the smallest optimizer step (dpo.pairsPerIteration {PairsPerIteration} over rl.miniBatches {rl.MiniBatches})"
        : null;

    /// <summary>The first problem found, as "dpo.field: problem" or "rl.field: problem" for an RL-only setting a DPO job does not take, or null.</summary>
    public string? Problem(RlSpec rl)
    {
        var defaults = new RlSpec();
        static string? Range(string field, double value, double min, double max) =>
            value >= min && value <= max ? null : $"dpo.{field}: {value} must be between {min} and {max}";
        string? NotTaken(string field, bool set) => set ? $"rl.{field}: a dpo job trains on preference pairs and does not take it; remove it" : null;
        return (string.IsNullOrWhiteSpace(Pairs) ? "dpo.pairs: required, a JSONL file of {\"prompt\", \"chosen\", \"rejected\"}" : null)
            ?? (Enum.IsDefined(Loss) ? null : $"dpo.loss: {Loss} is not one of {string.Join(", ", SpecNames.All<PreferenceLossKind>())}")
            ?? Range("heldOutPairs", HeldOutPairs, 1, 1_000_000)
            ?? Range("beta", Beta, 1e-4, 100)
            ?? Range("pairsPerIteration", PairsPerIteration, 1, 100_000)
            ?? (rl.MiniBatches * rl.TrainingReplicas > PairsPerIteration ? $"rl.trainingReplicas: {rl.TrainingReplicas} replicas x {rl.MiniBatches} mini-batches exceed the {PairsPerIteration} pairs of an iteration" : null)
            ?? NotTaken("devices", rl.Devices != DeviceKind.Tensor)
            ?? PipelineShares(rl)
            ?? NotTaken("async", rl.Async is not null)
            ?? NotTaken("migration", rl.Migration is not null)
            ?? NotTaken("tailBatching", rl.TailBatching is not null)
            ?? NotTaken("pools", rl.Pools is not null)
            ?? NotTaken("placement", rl.Placement != defaults.Placement)
            ?? NotTaken("maxGenerationWorkers", rl.MaxGenerationWorkers is not null)
            ?? NotTaken("algorithm", rl.Algorithm != defaults.Algorithm)
            ?? NotTaken("reward", rl.Reward != defaults.Reward);
    }
}
