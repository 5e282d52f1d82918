namespace Grains.Interfaces.Jobs;

/// <summary>
/// The "rl" section of a job file: algorithm, task and reward, data, batch sizes, learning rates, KL,
/// devices per role, stage policy and checkpoints. Every field has a default that trains the demo model.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RlSpec
{
    /// <summary>The model preset: 4 layers, hidden 128, GQA, character tokenizer.</summary>
    public const string DemoModel = "demo";

    /// <summary>grpo (group baseline), ppo (critic, GAE), rloo (leave-one-out), reinforce++ (whitened returns).</summary>
    [Id(0)] public Algorithm Algorithm { get; init; } = Algorithm.Grpo;
    /// <summary>
    /// A model preset (<see cref="DemoModel"/>), or a Hugging Face model folder on the silos' machines (a LLaMA or Qwen2
    /// config.json, model.safetensors or shards with their index, a byte-level BPE tokenizer.json): a new job's actor starts from its weights.
    /// </summary>
    [Id(1)] public string Model { get; init; } = DemoModel;
    /// <summary>arithmetic (exact-match reward) or runlength (long-tailed lengths, partial credit).</summary>
    [Id(2)] public RlTask Task { get; init; } = RlTask.Arithmetic;
    /// <summary>The task's rule, or a learned reward model at <see cref="RewardModel"/>.</summary>
    [Id(3)] public RewardSource Reward { get; init; } = RewardSource.Verifier;
    /// <summary>The checkpoint-store object (safetensors, scalar head) of the reward model when Reward is "model".</summary>
    [Id(4)] public string? RewardModel { get; init; }
    /// <summary>A JSONL file of training examples; without one, <see cref="TrainExamples"/> are generated.</summary>
    [Id(5)] public string? Dataset { get; init; }
    /// <summary>Generated training examples (without a dataset).</summary>
    [Id(6)] public int TrainExamples { get; init; } = 20_000;
    /// <summary>Held-out examples for the held-out greedy accuracy: generated (their own seed), or with a spoken dataset its last lines.</summary>
    [Id(7)] public int HeldOutExamples { get; init; } = 200;
    /// <summary>Supervised warm-start steps on the training set before RL.</summary>
    [Id(8)] public int SftSteps { get; init; } = 500;
    /// <summary>The warm start's batch size.</summary>
    [Id(9)] public int SftBatchSize { get; init; } = 64;
    /// <summary>The warm start's learning rate.</summary>
    [Id(10)] public double SftLearningRate { get; init; } = 3e-4;
    /// <summary>Prompts drawn per iteration (a seeded permutation per epoch).</summary>
    [Id(11)] public int PromptsPerIteration { get; init; } = 32;
    /// <summary>Responses per prompt (a GRPO/RLOO group; 1 is usual for PPO).</summary>
    [Id(12)] public int SamplesPerPrompt { get; init; } = 8;
    /// <summary>Optimizer steps per iteration and epoch: the step's samples cut into this many mini-batches.</summary>
    [Id(13)] public int MiniBatches { get; init; } = 2;
    /// <summary>Which samples make each mini-batch: a seeded shuffle, or with the longest sequences gathered (long-together).</summary>
    [Id(47)] public MiniBatchOrder MiniBatchOrder { get; init; } = MiniBatchOrder.Shuffled;
    /// <summary>Passes over a step's samples: optimizer steps per iteration = miniBatches x epochs.</summary>
    [Id(14)] public int Epochs { get; init; } = 1;
    /// <summary>AdamW learning rate of the actor (gradient norm clipped to 1).</summary>
    [Id(15)] public double ActorLearningRate { get; init; } = 3e-5;
    /// <summary>AdamW learning rate of the critic (ppo).</summary>
    [Id(16)] public double CriticLearningRate { get; init; } = 1e-3;
    /// <summary>Optimizer steps of linear learning-rate warm-up.</summary>
    [Id(17)] public int WarmupSteps { get; init; } = 10;
    /// <summary>Weight of the KL to the frozen reference, as a loss term (or subtracted from the reward with klInReward).</summary>
    [Id(18)] public double KlCoefficient { get; init; }
    /// <summary>True: -beta KL in the reward; false: beta KL as a loss term.</summary>
    [Id(19)] public bool KlInReward { get; init; }
    /// <summary>How the KL is estimated per token: k1, abs, k2 or k3.</summary>
    [Id(20)] public KlEstimatorKind KlEstimator { get; init; } = KlEstimatorKind.K3;
    /// <summary>Sampling temperature; training log-probs use the same.</summary>
    [Id(21)] public double Temperature { get; init; } = 0.7;
    /// <summary>PPO's clip of the importance ratio.</summary>
    [Id(22)] public double ClipRatio { get; init; } = 0.2;
    /// <summary>The critic's value clip (ppo).</summary>
    [Id(23)] public double ValueClip { get; init; } = 0.5;
    /// <summary>Weight of the entropy bonus.</summary>
    [Id(24)] public double EntropyCoefficient { get; init; }
    /// <summary>GAE's discount (ppo).</summary>
    [Id(25)] public double Gamma { get; init; } = 1.0;
    /// <summary>GAE's lambda (ppo).</summary>
    [Id(26)] public double Lambda { get; init; } = 1.0;
    /// <summary>Generation workers, a device each (with colocated placement: the job's devices).</summary>
    [Id(27)] public int GenerationWorkers { get; init; } = 1;
    /// <summary>
    /// The most generation workers a disaggregated job places (default: <see cref="GenerationWorkers"/>): it
    /// starts with those it can, and those past <see cref="GenerationWorkers"/> or without a free device try
    /// again at every step, joining once a device of their role frees (an admin started a generation silo).
    /// </summary>
    [Id(43)] public int? MaxGenerationWorkers { get; init; }
    /// <summary>
    /// A safetensors object in the checkpoint store that the actor (and the frozen reference) start from
    /// instead of the preset's initialization: another job's weights, or a merge (<c>actors merge</c>). The
    /// warm start's <see cref="SftSteps"/>, if any, run from it.
    /// </summary>
    [Id(44)] public string? InitialWeights { get; init; }
    /// <summary>Data-parallel replicas of each trained model (actor, and critic for PPO).</summary>
    [Id(28)] public int TrainingReplicas { get; init; } = 1;
    /// <summary>barrier (all generation, then all scoring, then training) or streaming (each sample scored the moment it ends).</summary>
    [Id(29)] public StagePolicy StagePolicy { get; init; } = StagePolicy.Streaming;
    /// <summary>Continuous batching: the most sequences a generation worker runs at once.</summary>
    [Id(30)] public int MaxBatch { get; init; } = 128;
    /// <summary>Continuous batching: the most context tokens (prompt + response so far) a worker holds at once.</summary>
    [Id(31)] public int MaxTokens { get; init; } = 8192;
    /// <summary>Checkpoint every this many iterations (0: never).</summary>
    [Id(32)] public int CheckpointEvery { get; init; } = 10;
    /// <summary>Held-out accuracy every this many iterations (and before the first).</summary>
    [Id(33)] public int EvalEvery { get; init; } = 5;
    /// <summary>
    /// Tensor: the demo model's real tensors. Emulated: cost-modelled devices (<see cref="Emulation"/>)
    /// that make response lengths, not tokens; such a job has no warm start, evaluation or checkpoints,
    /// and its rewards are zero: it measures the system, not learning.
    /// </summary>
    [Id(34)] public DeviceKind Devices { get; init; } = DeviceKind.Tensor;
    /// <summary>Required with devices "emulated": the workload the cost-modelled devices run (device class, model shapes, devices per role, lengths).</summary>
    [Id(35)] public EmulationSpec? Emulation { get; init; }
    /// <summary>Train the actor (and critic) pipeline-parallel on stage grains; none: one trainer per replica.</summary>
    [Id(36)] public PipelineSpec? Pipeline { get; init; }
    /// <summary>Where samples are generated: round-robin over the workers, or pulled by each worker as it frees a slot.</summary>
    [Id(37)] public DispatchPolicy Dispatch { get; init; } = DispatchPolicy.RoundRobin;
    /// <summary>Devices of their own per role, or every device hosting every role in turn (generationWorkers devices).</summary>
    [Id(38)] public RolePlacement Placement { get; init; } = RolePlacement.Disaggregated;
    /// <summary>Generation running ahead of training by bounded staleness; none: synchronous.</summary>
    [Id(39)] public AsyncSpec? Async { get; init; }
    /// <summary>Long-tail migration: a step's last samples gathered on a few workers; none: they stay where they were dispatched.</summary>
    [Id(40)] public MigrationSpec? Migration { get; init; }
    /// <summary>RollPacker's tail batching: more launched than trained, the long-running prompts deferred to long rounds; none: a step trains on all it launches.</summary>
    [Id(41)] public TailBatchingSpec? TailBatching { get; init; }
    /// <summary>How the generation and training pools divide the job's devices, at its start and as it runs (null: as given).</summary>
    [Id(42)] public PoolsSpec? Pools { get; init; }
    /// <summary>Multi-turn rollouts: responses may call tools, whose answers are appended and masked out of the losses; none: no tools.</summary>
    [Id(45)] public ToolsSpec? Tools { get; init; }
    /// <summary>Answers spoken by a speech model (the dataset names each answer's audio), and a reward on how they sound; none: text answers.</summary>
    [Id(46)] public SpokenAnswersSpec? SpokenAnswers { get; init; }

    /// <summary>
    /// On colocated devices: each mini-batch is the next promptsPerIteration / miniBatches groups scored whole, trained at once
    /// on the devices whose generation and scoring are done while the step's tail still generates elsewhere; a replica whose
    /// device still generates holds the weights it generates with and applies the steps it missed, in order, once its device
    /// is free, so every sample is trained by the step whose weights generated it. RLHFuse: the devices a step's tail leaves
    /// go on to the next stages at once.
    /// </summary>
    [Id(48)] public bool TrainEarly { get; init; }

    /// <summary>How many weight versions generation runs ahead of training (0 without an async section).</summary>
    [System.Text.Json.Serialization.JsonIgnore] public int Staleness => Async?.MaxStaleness ?? 0;

    [System.Text.Json.Serialization.JsonIgnore] public bool Emulated => Devices == DeviceKind.Emulated;

    [System.Text.Json.Serialization.JsonIgnore] public bool NeedsCritic => Algorithm == Algorithm.Ppo;

    [System.Text.Json.Serialization.JsonIgnore] public int MostGenerationWorkers => MaxGenerationWorkers ?? GenerationWorkers;

    /// <summary>A response's most tokens: the task's, or the larger budget tools' turns or spoken answers need.</summary>
    public int ResponseTokens(int task) => Math.Max(task, Math.Max(Tools?.ResponseTokens ?? 0, SpokenAnswers?.ResponseTokens ?? 0));

    /// <summary>A colocated job's devices each hold one of every role, so the roles' counts and tensor-parallel degrees agree.</summary>
    private string? ColocationProblem() =>
        TrainingReplicas != GenerationWorkers ? $"rl.trainingReplicas: {TrainingReplicas}, but colocated devices each hold a worker and a replica: set it to generationWorkers ({GenerationWorkers})"
        : Emulation is { } e && e.InferenceDevices != GenerationWorkers ? $"rl.emulation.inferenceDevices: {e.InferenceDevices}, but colocated devices each hold a scorer: set it to generationWorkers ({GenerationWorkers})"
        : Emulation is { } t && (t.InferenceTensorParallel != t.GenerationTensorParallel || t.TrainingTensorParallel != t.GenerationTensorParallel)
            ? $"rl.emulation.trainingTensorParallel: colocated roles share their devices, so every tensor-parallel degree is generationTensorParallel ({t.GenerationTensorParallel})"
        : null;

    /// <summary>What training mini-batches on freed devices needs: devices that turn from generating to training, samples scored as they end, mini-batches of whole groups trained once each, one trainer per device.</summary>
    private string? TrainEarlyProblem() =>
        Placement != RolePlacement.Colocated ? "rl.trainEarly: only colocated devices turn from generating to training; a disaggregated job's trainers have devices of their own (rl.async.streamTraining trains each mini-batch as it is scored)"
        : StagePolicy != StagePolicy.Streaming ? $"rl.trainEarly: stagePolicy {SpecNames.Of(StagePolicy)} scores nothing until every sample is generated, so no mini-batch is ready early; use 'streaming'"
        : MiniBatches < 2 ? "rl.miniBatches: 1, but rl.trainEarly trains a step's mini-batches while its last one is generated; use 2 or more"
        : MiniBatches > PromptsPerIteration ? $"rl.miniBatches: {MiniBatches}, but rl.trainEarly makes mini-batches of whole groups and a step has {PromptsPerIteration}"
        : Epochs != 1 ? $"rl.epochs: {Epochs}, but rl.trainEarly trains each mini-batch once, as it is scored; set epochs to 1"
        : MiniBatchOrder != MiniBatchOrder.Shuffled ? $"rl.miniBatchOrder: {SpecNames.Of(MiniBatchOrder)}, but rl.trainEarly makes each mini-batch of the groups scored next; remove one"
        : Pipeline is not null ? "rl.trainEarly: pipeline stages span every device, so no stage can begin on the devices freed first; remove rl.pipeline or trainEarly"
        : TailBatching is not null ? "rl.trainEarly: a tail-batching round trains once its first groups are in and leaves no tail to wait for; remove rl.tailBatching or trainEarly"
        : null;

    /// <summary>The first problem found, as "rl.field: problem", or null.</summary>
    public string? Problem()
    {
        static string? Defined<T>(string field, T value) where T : struct, Enum =>
            Enum.IsDefined(value) ? null : $"rl.{field}: {value} is not one of {string.Join(", ", SpecNames.All<T>())}";
        static string? Range(string field, double value, double min, double max) =>
            value >= min && value <= max ? null : $"rl.{field}: {value} must be between {min} and {max}";

        return Defined("algorithm", Algorithm)
            ?? Defined("devices", Devices)
            ?? (Emulated && Emulation is null ? "rl.emulation: required when devices is 'emulated'" : null)
            ?? (!Emulated && Emulation is not null ? "rl.emulation: only for devices 'emulated'" : null)
            ?? (Emulated && Reward == RewardSource.Model ? "rl.reward: an emulated job's reward model is rl.emulation.rewardModel (a shape); keep reward 'verifier'" : null)
            ?? Emulation?.Problem()
            ?? (string.IsNullOrWhiteSpace(Model) ? $"rl.model: a preset ({DemoModel}) or a Hugging Face model folder" : null)
            ?? Defined("task", Task)
            ?? Defined("reward", Reward)
            ?? (Reward == RewardSource.Model && string.IsNullOrWhiteSpace(RewardModel) ? "rl.rewardModel: required when reward is 'model'" : null)
            ?? (InitialWeights is not null && Emulated ? "rl.initialWeights: emulated devices have no weights; remove it" : null)
            ?? (InitialWeights is "" ? "rl.initialWeights: an object name in the checkpoint store, or remove it" : null)
            ?? Defined("stagePolicy", StagePolicy)
            ?? Defined("dispatch", Dispatch)
            ?? Defined("klEstimator", KlEstimator)
            ?? Range("trainExamples", TrainExamples, 1, 10_000_000)
            ?? Range("heldOutExamples", HeldOutExamples, 1, 100_000)
            ?? Range("sftSteps", SftSteps, 0, 1_000_000)
            ?? Range("sftBatchSize", SftBatchSize, 1, 4096)
            ?? Range("sftLearningRate", SftLearningRate, 1e-8, 1)
            ?? Range("promptsPerIteration", PromptsPerIteration, 1, 100_000)
            ?? Range("samplesPerPrompt", SamplesPerPrompt, 1, 1024)
            ?? (Algorithm is Algorithm.Grpo or Algorithm.Rloo && SamplesPerPrompt < 2 ? $"rl.samplesPerPrompt: {SpecNames.Of(Algorithm)} needs groups of at least 2" : null)
            ?? Range("miniBatches", MiniBatches, 1, (long)PromptsPerIteration * SamplesPerPrompt)
            ?? Range("epochs", Epochs, 1, 100)
            ?? Range("actorLearningRate", ActorLearningRate, 1e-10, 1)
            ?? Range("criticLearningRate", CriticLearningRate, 1e-10, 1)
            ?? Range("warmupSteps", WarmupSteps, 0, 1_000_000)
            ?? Range("klCoefficient", KlCoefficient, 0, 100)
            ?? Range("temperature", Temperature, 1e-3, 10)
            ?? Range("clipRatio", ClipRatio, 1e-3, 1)
            ?? Range("valueClip", ValueClip, 1e-3, 100)
            ?? Range("entropyCoefficient", EntropyCoefficient, 0, 1)
            ?? Range("gamma", Gamma, 0, 1)
            ?? Range("lambda", Lambda, 0, 1)
            ?? Range("generationWorkers", GenerationWorkers, 1, 4096)
            ?? (MaxGenerationWorkers is { } most ? Range("maxGenerationWorkers", most, GenerationWorkers, 4096) : null)
            ?? (MaxGenerationWorkers is not null && Placement == RolePlacement.Colocated ? "rl.maxGenerationWorkers: a colocated job's workers are on its own devices, one each; remove it" : null)
            ?? (MaxGenerationWorkers is not null && Pools is not null ? "rl.maxGenerationWorkers: the pools divide a fixed budget of devices between generation and training; remove one" : null)
            ?? Range("trainingReplicas", TrainingReplicas, 1, 4096)
            ?? ((long)MiniBatches * TrainingReplicas > (long)PromptsPerIteration * SamplesPerPrompt ? $"rl.trainingReplicas: {TrainingReplicas} replicas x {MiniBatches} mini-batches exceed the {PromptsPerIteration * SamplesPerPrompt} samples of an iteration" : null)
            ?? Range("maxBatch", MaxBatch, 1, 65_536)
            ?? Range("maxTokens", MaxTokens, 16, 10_000_000)
            ?? Range("checkpointEvery", CheckpointEvery, 0, 1_000_000)
            ?? Range("evalEvery", EvalEvery, 1, 1_000_000)
            ?? Defined("placement", Placement)
            ?? Defined("miniBatchOrder", MiniBatchOrder)
            ?? (MiniBatchOrder == MiniBatchOrder.LongTogether && Async is { StreamTraining: true } ? "rl.miniBatchOrder: long-together, but rl.async.streamTraining makes each mini-batch of the groups scored next; remove one" : null)
            ?? (MiniBatchOrder == MiniBatchOrder.LongTogether && Pipeline is not null ? "rl.miniBatchOrder: long-together spreads the long sequences over data-parallel replicas, but rl.pipeline cuts a mini-batch into contiguous micro-batches, which would stack them; remove one" : null)
            ?? (Placement == RolePlacement.Colocated ? ColocationProblem() : null)
            ?? (TrainEarly ? TrainEarlyProblem() : null)
            ?? (Pipeline is not null && Emulated && Placement != RolePlacement.Colocated ? "rl.pipeline: on emulated devices only with placement 'colocated' (an emulated disaggregated job trains data-parallel)" : null)
            ?? Pipeline?.Problem(this)
            ?? Async?.Problem(this)
            ?? Migration?.Problem(this)
            ?? TailBatching?.Problem(this)
            ?? Pools?.Problem(this)
            ?? Emulation?.LongTail?.Problem(this)
            ?? Tools?.Problem(this)
            ?? SpokenAnswers?.Problem(this);
    }
}
