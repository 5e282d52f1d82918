namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "emulation" section of an rl job whose "devices" are "emulated": which device class and model
/// shapes the cost model times, how many devices each role's instances span, where response lengths
/// come from, and how much faster than real time the emulated devices run. The instance counts per role
/// are the rl section's (generationWorkers, trainingReplicas) and <see cref="InferenceDevices"/>; an
/// instance of tensor-parallel degree t stands for t devices. Names (device class, shapes, link,
/// lengths) are checked where the cost model lives, when the job starts.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record EmulationSpec
{
    /// <summary>H100, H800, H20 or A100.</summary>
    [Id(0)] public string DeviceClass { get; init; } = "H800";
    /// <summary>The actor's (and reference's) shape: llama-13b/33b/65b, qwen2.5-7b/32b/72b.</summary>
    [Id(1)] public string Actor { get; init; } = "qwen2.5-7b";
    /// <summary>The critic's shape (PPO); the actor's when omitted.</summary>
    [Id(2)] public string? Critic { get; init; }
    /// <summary>A learned reward model's shape, scored on the inference devices; none: a rule-based verifier that costs no device time.</summary>
    [Id(3)] public string? RewardModel { get; init; }
    /// <summary>Devices per generation worker (tensor parallel): a power of two.</summary>
    [Id(4)] public int GenerationTensorParallel { get; init; } = 1;
    /// <summary>Scoring instances (reference, critic values, reward model), each of <see cref="InferenceTensorParallel"/> devices.</summary>
    [Id(5)] public int InferenceDevices { get; init; } = 1;
    /// <summary>Devices per scoring instance (tensor parallel): a power of two.</summary>
    [Id(6)] public int InferenceTensorParallel { get; init; } = 1;
    /// <summary>Devices per training replica of each model (tensor parallel): a power of two.</summary>
    [Id(7)] public int TrainingTensorParallel { get; init; } = 1;
    /// <summary>Response lengths: "chat", "reasoning", "reasoning-32k", "spoken" (a speech model's audio answers), or a histogram file of "length,count" lines.</summary>
    [Id(8)] public string Lengths { get; init; } = "chat";
    /// <summary>Every prompt's length in tokens.</summary>
    [Id(9)] public int PromptLength { get; init; } = 256;
    /// <summary>The link new weights reach generation workers over: nvlink-h100, nvlink-h800, infiniband-400g, cross-dc-100g.</summary>
    [Id(10)] public string WeightLink { get; init; } = "infiniband-400g";
    /// <summary>Emulated seconds per wall-clock second.</summary>
    [Id(11)] public double TimeScale { get; init; } = 10;
    /// <summary>How alike the responses to one prompt are: the correlation of siblings' normal scores (0: independent).</summary>
    [Id(12)] public double LengthCorrelation { get; init; } = 0.6;
    /// <summary>How fast responses grow as training goes on: lengths scale by (1 + drift) per weight version.</summary>
    [Id(13)] public double LengthDrift { get; init; } = 0.002;
    /// <summary>
    /// How many distinct prompts the emulated dataset holds: each epoch draws them all once, in a fresh
    /// seeded order, and a prompt's responses follow its latent every time it comes back (what
    /// history-based length prediction learns from). 0: every prompt drawn is new.
    /// </summary>
    [Id(14)] public int DatasetPrompts { get; init; }
    /// <summary>The generation workers' device class when it differs from <see cref="DeviceClass"/> (StreamRL: cheaper inference devices generate, training devices train); scoring and training run on <see cref="DeviceClass"/>.</summary>
    [Id(15)] public string? GenerationDeviceClass { get; init; }
    /// <summary>Price per device-hour of each device class the job uses, in any one currency: what bench's cost-effectiveness (trained samples per unit of cost) is computed from.</summary>
    [Id(16)] public Dictionary<string, double>? Prices { get; init; }
    /// <summary>
    /// The link between two datacenters when the generation pool (with scoring beside it) is in one and
    /// training in the other (null: one datacenter). Each weights version crosses it once and fans out to
    /// the workers in a binary tree over <see cref="WeightLink"/>.
    /// </summary>
    [Id(17)] public string? CrossDatacenterLink { get; init; }
    /// <summary>Tool calls the responses make, answered after a drawn latency (an agentic workload); none without it.</summary>
    [Id(18)] public EmulatedToolsSpec? Tools { get; init; }
    /// <summary>Long-tail generation instances of more devices each (see <see cref="LongTailSpec"/>); none without it.</summary>
    [Id(19)] public LongTailSpec? LongTail { get; init; }

    /// <summary>The first problem found, as "rl.emulation.field: problem", or null.</summary>
    public string? Problem()
    {
        static string? Range(string field, double value, double min, double max) =>
            value >= min && value <= max ? null : $"rl.emulation.{field}: {value} must be between {min} and {max}";
        static string? PowerOfTwo(string field, int value) =>
            value is >= 1 and <= 64 && (value & (value - 1)) == 0 ? null : $"rl.emulation.{field}: {value} must be a power of two from 1 to 64";

        static string? Named(string field, string? value) => string.IsNullOrWhiteSpace(value) ? $"rl.emulation.{field}: required" : null;

        return Named("deviceClass", DeviceClass) ?? Named("actor", Actor) ?? Named("weightLink", WeightLink)
            ?? PowerOfTwo("generationTensorParallel", GenerationTensorParallel)
            ?? PowerOfTwo("inferenceTensorParallel", InferenceTensorParallel)
            ?? PowerOfTwo("trainingTensorParallel", TrainingTensorParallel)
            ?? Range("inferenceDevices", InferenceDevices, 1, 4096)
            ?? Range("promptLength", PromptLength, 1, 1_000_000)
            ?? Range("timeScale", TimeScale, 1e-3, 1e6)
            ?? Range("lengthCorrelation", LengthCorrelation, 0, 1)
            ?? Range("lengthDrift", LengthDrift, 0, 0.1)
            ?? Range("datasetPrompts", DatasetPrompts, 0, 100_000_000)
            ?? (string.IsNullOrWhiteSpace(Lengths) ? "rl.emulation.lengths: required (chat, reasoning, reasoning-32k, spoken or a histogram file)" : null)
            ?? Tools?.Problem();
    }
}
