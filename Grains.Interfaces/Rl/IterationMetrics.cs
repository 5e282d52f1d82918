namespace Grains.Interfaces.Rl;

/// <summary>One iteration's figures, as printed and appended to the metrics file.</summary>
[GenerateSerializer, Immutable]
public sealed record IterationMetrics
{
    [Id(0)] public int Iteration { get; init; }
    [Id(1)] public double RewardMean { get; init; }
    [Id(2)] public double RewardStd { get; init; }
    /// <summary>Held-out greedy exact-match accuracy after this iteration's update; null when not evaluated.</summary>
    [Id(3)] public double? HeldOutAccuracy { get; init; }
    [Id(4)] public double Kl { get; init; }
    [Id(5)] public double Entropy { get; init; }
    [Id(6)] public double PolicyLoss { get; init; }
    [Id(7)] public double? ValueLoss { get; init; }
    [Id(8)] public double ClipFraction { get; init; }
    [Id(9)] public double LengthMean { get; init; }
    [Id(10)] public int LengthP50 { get; init; }
    [Id(11)] public int LengthP99 { get; init; }
    [Id(12)] public int LengthMax { get; init; }
    [Id(13)] public double GenerationSeconds { get; init; }
    [Id(14)] public double ScoringSeconds { get; init; }
    [Id(15)] public double TrainingSeconds { get; init; }
    [Id(16)] public double IterationSeconds { get; init; }
    [Id(17)] public double SamplesPerSecond { get; init; }
    [Id(18)] public double TokensPerSecond { get; init; }
    [Id(19)] public Dictionary<string, double> DeviceBusy { get; init; } = [];
    [Id(20)] public int WeightVersion { get; init; }
    [Id(21)] public double GradNorm { get; init; }
    /// <summary>Emulated seconds per wall second (1 on real devices): the seconds above times this are emulated seconds.</summary>
    [Id(22)] public double TimeScale { get; init; } = 1;
    /// <summary>Emulated devices: what each did when in this iteration, in emulated seconds from its start.</summary>
    [Id(23)] public DeviceTimeline[] Timeline { get; init; } = [];
    /// <summary>Pipelined training: the share of the pipeline devices' step time spent idle, measured, mean over the iteration's steps.</summary>
    [Id(24)] public double? PipelineBubble { get; init; }
    /// <summary>Pipelined training: the bubble expected of the schedule (analytic for 1F1B and GPipe, planned for a fused plan).</summary>
    [Id(25)] public double? PipelineBubbleExpected { get; init; }
    /// <summary>The step's samples accounted for: created, generated, scored, trained, re-dispatched, discarded.</summary>
    [Id(26)] public StepLedger? Ledger { get; init; }
    /// <summary>Data-parallel trainer replicas lost with their silo and rebuilt from a surviving replica in this iteration.</summary>
    [Id(27)] public int ReplicasRebuilt { get; init; }
    /// <summary>How many weight versions the step's samples were generated behind the version it trained (asynchronous jobs; 0 synchronous): mean and most.</summary>
    [Id(28)] public double VersionLagMean { get; init; }
    [Id(29)] public int VersionLagMax { get; init; }
    /// <summary>The share of the step's samples whose tokens more than one weights version sampled (interrupted partial rollouts).</summary>
    [Id(30)] public double PartialShare { get; init; }
    /// <summary>The share of the actor's trained tokens decoupled PPO left out of its loss, their behaviour weight pi_prox / pi_behav over rl.async.behaviourWeightCap.</summary>
    [Id(42)] public double BehaviourCutShare { get; init; }
    /// <summary>With rl.trainEarly: the samples whose forward and backward ran on freed devices while the step's tail was still generating.</summary>
    [Id(43)] public int EarlyTrainedSamples { get; init; }
    /// <summary>Seconds from the iteration's start to its first optimizer step: after its last sample is scored, or before it when training is streamed.</summary>
    [Id(31)] public double TrainingStartSeconds { get; init; }
    /// <summary>The long-tail migration the step's rollout was launched with (R_t, m), or null: none, or a plan of none.</summary>
    [Id(32)] public MigrationPlan? Migration { get; init; }
    /// <summary>The step's tail-batching round (null without tail batching).</summary>
    [Id(33)] public RoundReport? Round { get; init; }
    /// <summary>How well the output-length ranker's forecast, made when the step was launched, ranked the lengths its trained samples reached.</summary>
    [Id(34)] public RankingReport? Ranking { get; init; }
    /// <summary>Skew-aware dispatch: the long-tail workers and their batch the step was launched with (null with other dispatch policies).</summary>
    [Id(35)] public SkewSplit? Split { get; init; }
    /// <summary>With rl.pools: the generation workers and training replicas the step was trained with (the division after any move then).</summary>
    [Id(36)] public PoolSizes? Pools { get; init; }
    /// <summary>
    /// Trained weights the generation workers' reads moved in the step, by link ("from->to" datacenters), in
    /// bytes: a read of the store in its own datacenter, a version crossing into another's relay, the relay's
    /// copy to each silo there (real devices; emulated ones model the transfer in their time line).
    /// </summary>
    [Id(37)] public Dictionary<string, long> WeightBytes { get; init; } = [];
    /// <summary>A DPO job's step: its pairs' loss, rewards and accuracy, and the held-out pairs' when evaluated (null for RL jobs).</summary>
    [Id(38)] public PreferenceReport? Preference { get; init; }
    /// <summary>With rl.tools: the step's tool turns (null for a job without tools).</summary>
    [Id(39)] public ToolReport? Tools { get; init; }
    /// <summary>When evaluated, the first held-out prompt and the policy's greedy response to it ("12+34= -> 46"): what it writes now.</summary>
    [Id(40)] public string? HeldOutExample { get; init; }
    /// <summary>With a pitch reward on spoken answers: how the step's answers sounded (null otherwise).</summary>
    [Id(41)] public SpokenReport? Spoken { get; init; }
}

/// <summary>A step's spoken answers: the share with voiced audio, and the median of their pitches (Hz).</summary>
[GenerateSerializer, Immutable]
public sealed record SpokenReport([property: Id(0)] double VoicedShare, [property: Id(1)] double MedianHz)
{
    /// <summary>The report of samples' measured pitches (null entries: not measured; 0: nothing voiced); null when none was measured.</summary>
    public static SpokenReport? Of(IEnumerable<double?> pitches)
    {
        var measured = pitches.OfType<double>().ToArray();
        if (measured.Length == 0) return null;
        var voiced = measured.Where(hz => hz > 0).Order().ToArray();
        var median = voiced.Length == 0 ? 0 : voiced.Length % 2 == 1 ? voiced[voiced.Length / 2] : (voiced[voiced.Length / 2 - 1] + voiced[voiced.Length / 2]) / 2;
        return new SpokenReport((double)voiced.Length / measured.Length, median);
    }
}

/// <summary>A step's tool turns over its trained samples: calls per sample, the share of samples that called, calls by outcome, mean seconds a call, tool tokens masked.</summary>
[GenerateSerializer, Immutable]
public sealed record ToolReport
{
    [Id(0)] public double CallsPerSample { get; init; }
    [Id(1)] public double CallingShare { get; init; }
    [Id(2)] public int Calls { get; init; }
    [Id(3)] public int Failed { get; init; }
    [Id(4)] public int TimedOut { get; init; }
    [Id(5)] public int CutOff { get; init; }
    [Id(6)] public double MeanCallSeconds { get; init; }
    [Id(7)] public int MaskedTokens { get; init; }

    /// <summary>The report of samples' turns (null entries: samples without tools); null when none had tools.</summary>
    public static ToolReport? Of(IEnumerable<ToolTurns?> samples)
    {
        var turns = samples.ToArray();
        if (turns.All(t => t is null)) return null;
        var all = turns.Select(t => t ?? ToolTurns.None).ToArray();
        var calls = all.Sum(t => t.Calls);
        return new ToolReport
        {
            CallsPerSample = (double)calls / all.Length, CallingShare = (double)all.Count(t => t.Calls > 0) / all.Length, Calls = calls,
            Failed = all.Sum(t => t.Failed), TimedOut = all.Sum(t => t.TimedOut), CutOff = all.Sum(t => t.CutOff),
            MeanCallSeconds = calls == 0 ? 0 : all.Sum(t => t.Seconds) / calls, MaskedTokens = all.Sum(t => t.Masked),
        };
    }
}

/// <summary>
/// A DPO step's figures over the pairs it trained (each before its optimizer step): mean loss, implicit rewards
/// r = beta (log pi(y) - log ref(y)) of the chosen and rejected responses, their margin, the share of pairs ranked
/// right; and over the held-out pairs after the step, when the step evaluated.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record PreferenceReport
{
    [Id(0)] public int Pairs { get; init; }
    [Id(1)] public double Loss { get; init; }
    [Id(2)] public double ChosenReward { get; init; }
    [Id(3)] public double RejectedReward { get; init; }
    [Id(4)] public double Margin { get; init; }
    [Id(5)] public double Accuracy { get; init; }
    [Id(6)] public double? HeldOutLoss { get; init; }
    [Id(7)] public double? HeldOutMargin { get; init; }
    /// <summary>The share of held-out pairs whose chosen response the policy now rewards above the rejected one.</summary>
    [Id(8)] public double? HeldOutAccuracy { get; init; }

    /// <summary>A report of <paramref name="trained"/>'s means, with <paramref name="heldOut"/>'s where evaluated.</summary>
    public static PreferenceReport Of(PairSums trained, PairSums? heldOut) => new()
    {
        Pairs = (int)trained.Pairs, Loss = trained.MeanLoss, ChosenReward = trained.Pairs == 0 ? 0 : trained.ChosenReward / trained.Pairs,
        RejectedReward = trained.Pairs == 0 ? 0 : trained.RejectedReward / trained.Pairs, Margin = trained.MeanMargin, Accuracy = trained.Accuracy,
        HeldOutLoss = heldOut?.MeanLoss, HeldOutMargin = heldOut?.MeanMargin, HeldOutAccuracy = heldOut?.Accuracy,
    };
}

/// <summary>How an asynchronous job's pools divide its devices at a step (rl.pools).</summary>
[GenerateSerializer, Immutable]
public sealed record PoolSizes([property: Id(0)] int GenerationWorkers, [property: Id(1)] int TrainingReplicas);

/// <summary>Skew-aware dispatch's split: <see cref="LongWorkers"/> long-tail workers with batches of <see cref="LongBatch"/> (0 and 0: none, longest forecast first everywhere).</summary>
[GenerateSerializer, Immutable]
public sealed record SkewSplit([property: Id(0)] int LongWorkers, [property: Id(1)] int LongBatch)
{
    public static SkewSplit None { get; } = new(0, 0);
}

/// <summary>
/// The length ranker's quality on one step. Prompts are ranked by their responses' mean length (what a
/// prompt-level forecast can know: siblings differ by their own draws), responses by their own lengths
/// with their prompt's forecast; recall is of the longest 20 %, correlation is Spearman's rho.
/// <see cref="HalfwayPromptRecall"/>: the prompt recall of the forecast once half the step's responses had
/// ended, with their siblings' lengths so far (<c>Kernels.Ranking.SiblingForecast</c>); null where the responses
/// carry no time they were generated.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record RankingReport(
    [property: Id(0)] double PromptRecall,
    [property: Id(1)] double PromptRankCorrelation,
    [property: Id(2)] double ResponseRecall,
    [property: Id(3)] double KnownShare,
    [property: Id(4)] double? HalfwayPromptRecall = null);

/// <summary>A tail-batching round: long (deferred prompts run to the end) or short, and the prompts deferred after it.</summary>
/// <param name="BoundSeconds">
/// On emulated devices, the lower bound on a step that trains the samples this round kept (the ideal bound of a
/// workload of their lengths, in emulated seconds): the bench's efficiency for tail batching, whose steps do not
/// train their workload's samples.
/// </param>
[GenerateSerializer, Immutable]
public sealed record RoundReport([property: Id(0)] bool Long, [property: Id(1)] int Deferred, [property: Id(2)] double? BoundSeconds = null);

/// <summary>Long-tail migration settings in force: gather once <see cref="Remaining"/> of a step is left, on <see cref="Workers"/> workers.</summary>
[GenerateSerializer, Immutable]
public sealed record MigrationPlan([property: Id(0)] double Remaining, [property: Id(1)] int Workers);

/// <summary>One device's bars in an iteration's timeline.</summary>
[GenerateSerializer, Immutable]
public sealed record DeviceTimeline([property: Id(0)] string Holder, [property: Id(1)] TimelineBar[] Bars);

/// <summary>A stretch of one stage's work (generation, scoring, training, weights), in seconds from the iteration's start.</summary>
[GenerateSerializer, Immutable]
public sealed record TimelineBar([property: Id(0)] double Start, [property: Id(1)] double End, [property: Id(2)] string Stage);
