using Grains.Engines;
using Grains.Interfaces.Jobs;
using Kernels.Emulation;

namespace Client.Benchmarks;

/// <summary>
/// One way bench runs a workload: where the roles run, when a sample moves on, and how many weight
/// versions generation runs ahead of training (async-k: rl.async.maxStaleness k, streaming scoring, pull
/// dispatch, so a step's samples go to the workers done with older versions; async-k-partial: with partial
/// rollouts, where every worker takes every version at once and pull deals as round-robin does, the interrupted
/// samples' KV caches kept; async-k-partial-recompute: prefilled again under the new weights instead; async-k-partial-balance
/// and async-k-partial-stream-balance: the workers' contexts evened every 15 device seconds, rl.async.balanceEverySeconds). Variants with
/// Stream train each mini-batch the moment its groups are scored (rl.async.streamTraining, StreamRL's dynamic batches):
/// async-k-stream, async-k-partial-stream, and async-k-stream-skew with skew-aware dispatch (StreamRL's whole design).
/// Variants with LongTogether cut each step's mini-batches with its longest sequences gathered (rl.miniBatchOrder
/// long-together): colocated-barrier-long, async-k-long, async-k-partial-long.
/// Colocated variants run the workload on as many devices, every one hosting every role (the published baseline);
/// those with TrainEarly (colocated-streaming-early, colocated-rlhfuse-early) make each mini-batch of the groups scored
/// next and train them on the devices generation has freed while the tail generates (rl.trainEarly).
/// Variants with Migrate gather each step's tail on a few workers (RLHFuse's long-tail migration; colocated-rlhfuse
/// is the colocated form), with the threshold and targets <see cref="TailPlanner"/> chooses for the workload; their
/// running samples move as Migrate says (async-k-migrate-prefill: prefilled again, the others: with their KV
/// cache where the cost model says it is sooner). Variants with TailBatch run RollPacker's tail batching at its
/// default over-provisioning (<see cref="TailBatchingSpec"/>): short rounds that train on what finishes first, and
/// long rounds of the prompts they deferred. Variants with a Pipeline schedule train the actor and the critic
/// pipeline-parallel on the colocated devices (<see cref="PipelineOf"/>): 1f1b one model after the other (RLHFuse's
/// unfused base), fused with the planner's plan (its intra-stage fusion). Variants with a Dispatch policy are
/// StreamRL's dispatch ablation (async-k-round-robin, async-k-pull, async-k-skew): the same asynchronous job
/// dispatched three ways, on a dataset of two steps' prompts (when the workload gives none), so that from the
/// third step the length ranker has each prompt's history; the first epoch is warm-up (async-k-partial-pull,
/// async-k-partial-skew and async-k-partial-skew-tp4: the same with partial rollouts). Variants with Pools are
/// StreamRL's resource split (rl.pools): async-k-split divides the devices once, at the start, by simulating
/// the first step (the fixed split chosen at step 0), async-k-elastic divides them again after every step.
/// Variants with LongTailTensorParallel t (async-k-skew-tpt, async-k-stream-skew-tpt) make <see cref="LongTailWorkers"/>
/// of the generation workers long-tail instances of t devices each (rl.emulation.longTail), in place of as
/// many devices' regular workers, so the job keeps its device count; with LongTailRole tail (async-k-skew-tail4,
/// async-k-stream-skew-tail4) they are dealt nothing and each step's tail is gathered onto them once
/// <see cref="TailRemaining"/> of its samples are left (rl.migration, with their KV caches where sooner; re-tuned
/// every step by simulation, the share came out at 10-20 % and the steps slower: measured, README). Variants
/// ending in -needed run only as many steps ahead as keep the trainer fed (rl.async.runAhead needed).
/// </summary>
public sealed record BenchVariant(string Name, RolePlacement Placement, StagePolicy Policy, int Staleness = 0, bool Partial = false, MigrationMove? Migrate = null,
    bool TailBatch = false, PipelineScheduleKind? Pipeline = null, InterruptedCache Interrupted = InterruptedCache.Auto, DispatchPolicy? Dispatch = null,
    PoolsSpec? Pools = null, string? CrossDatacenter = null, bool Stream = false, bool LongTogether = false, int? LongTailTensorParallel = null,
    LongTailRole LongTailRole = LongTailRole.Head, RunAhead RunAhead = RunAhead.Most, bool TrainEarly = false)
{
    public static IReadOnlyList<BenchVariant> All { get; } =
    [
        new("colocated-barrier", RolePlacement.Colocated, StagePolicy.Barrier),
        new("barrier", RolePlacement.Disaggregated, StagePolicy.Barrier),
        new("streaming", RolePlacement.Disaggregated, StagePolicy.Streaming),
        new("colocated-streaming", RolePlacement.Colocated, StagePolicy.Streaming),
        new("colocated-rlhfuse", RolePlacement.Colocated, StagePolicy.Streaming, Migrate: MigrationMove.Auto),
        // Mini-batches of the groups scored first, trained on the devices generation freed (rl.trainEarly).
        new("colocated-streaming-early", RolePlacement.Colocated, StagePolicy.Streaming, TrainEarly: true),
        new("colocated-rlhfuse-early", RolePlacement.Colocated, StagePolicy.Streaming, Migrate: MigrationMove.Auto, TrainEarly: true),
        new("streaming-migrate", RolePlacement.Disaggregated, StagePolicy.Streaming, Migrate: MigrationMove.Auto),
        new("colocated-barrier-long", RolePlacement.Colocated, StagePolicy.Barrier, LongTogether: true),
        // The colocated ablation: each technique alone over the barrier baseline, then together.
        new("colocated-barrier-migrate", RolePlacement.Colocated, StagePolicy.Barrier, Migrate: MigrationMove.Auto),
        new("colocated-barrier-tailbatch", RolePlacement.Colocated, StagePolicy.Barrier, TailBatch: true),
        new("colocated-tailbatch", RolePlacement.Colocated, StagePolicy.Streaming, TailBatch: true),
        new("colocated-rlhfuse-tailbatch", RolePlacement.Colocated, StagePolicy.Streaming, Migrate: MigrationMove.Auto, TailBatch: true),
        new("streaming-tailbatch", RolePlacement.Disaggregated, StagePolicy.Streaming, TailBatch: true),
        // Training pipeline-parallel on the colocated devices: the two models one after the other, then fused.
        new("colocated-1f1b", RolePlacement.Colocated, StagePolicy.Barrier, Pipeline: PipelineScheduleKind.OneForwardOneBackward),
        new("colocated-fused", RolePlacement.Colocated, StagePolicy.Barrier, Pipeline: PipelineScheduleKind.Fused),
        new("colocated-rlhfuse-fused", RolePlacement.Colocated, StagePolicy.Streaming, Migrate: MigrationMove.Auto, Pipeline: PipelineScheduleKind.Fused),
        new("colocated-rlhfuse-tailbatch-fused", RolePlacement.Colocated, StagePolicy.Streaming, Migrate: MigrationMove.Auto, TailBatch: true, Pipeline: PipelineScheduleKind.Fused),
        .. new[] { 1, 2, 4, 8 }.SelectMany(k => new[]
        {
            new BenchVariant($"async-{k}", RolePlacement.Disaggregated, StagePolicy.Streaming, k),
            new BenchVariant($"async-{k}-partial", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true),
            new BenchVariant($"async-{k}-stream", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Stream: true),
            new BenchVariant($"async-{k}-stream-skew", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Stream: true, Dispatch: DispatchPolicy.SkewAware),
            new BenchVariant($"async-{k}-long", RolePlacement.Disaggregated, StagePolicy.Streaming, k, LongTogether: true),
            new BenchVariant($"async-{k}-needed", RolePlacement.Disaggregated, StagePolicy.Streaming, k, RunAhead: RunAhead.Needed),
            new BenchVariant($"async-{k}-long-needed", RolePlacement.Disaggregated, StagePolicy.Streaming, k, LongTogether: true, RunAhead: RunAhead.Needed),
            new BenchVariant($"async-{k}-partial-long", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, LongTogether: true),
            new BenchVariant($"async-{k}-partial-stream", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Stream: true),
            new BenchVariant($"async-{k}-partial-balance", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true) { BalanceEverySeconds = BalancePeriod },
            new BenchVariant($"async-{k}-partial-stream-balance", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Stream: true) { BalanceEverySeconds = BalancePeriod },
            new BenchVariant($"async-{k}-stream-balance-needed", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Stream: true, RunAhead: RunAhead.Needed) { BalanceEverySeconds = BalancePeriod },
            new BenchVariant($"async-{k}-partial-recompute", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Interrupted: InterruptedCache.Recompute),
            new BenchVariant($"async-{k}-migrate", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Migrate: MigrationMove.Auto),
            new BenchVariant($"async-{k}-migrate-prefill", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Migrate: MigrationMove.Prefill),
            new BenchVariant($"async-{k}-round-robin", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Dispatch: DispatchPolicy.RoundRobin),
            new BenchVariant($"async-{k}-pull", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Dispatch: DispatchPolicy.Pull),
            new BenchVariant($"async-{k}-skew", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Dispatch: DispatchPolicy.SkewAware),
            new BenchVariant($"async-{k}-split", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Pools: new PoolsSpec { Split = PoolSplit.Auto }),
            new BenchVariant($"async-{k}-elastic", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Pools: new PoolsSpec { Split = PoolSplit.Auto, Elastic = true }),
            new BenchVariant($"async-{k}-cross-dc", RolePlacement.Disaggregated, StagePolicy.Streaming, k, CrossDatacenter: Link.CrossDatacenter.Name),
            new BenchVariant($"async-{k}-skew-tp4", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 4),
            new BenchVariant($"async-{k}-stream-skew-tp4", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Stream: true, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 4),
            new BenchVariant($"async-{k}-stream-skew-tp8", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Stream: true, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 8),
            new BenchVariant($"async-{k}-skew-tail4", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 4, LongTailRole: LongTailRole.Tail),
            new BenchVariant($"async-{k}-stream-skew-tail4", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Stream: true, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 4, LongTailRole: LongTailRole.Tail),
            new BenchVariant($"async-{k}-partial-pull", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Dispatch: DispatchPolicy.Pull),
            new BenchVariant($"async-{k}-partial-skew", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Dispatch: DispatchPolicy.SkewAware),
            new BenchVariant($"async-{k}-partial-skew-tp4", RolePlacement.Disaggregated, StagePolicy.Streaming, k, Partial: true, Dispatch: DispatchPolicy.SkewAware, LongTailTensorParallel: 4),
        }),
    ];

    /// <summary>With partial rollouts, the workers' contexts evened every this many device seconds (rl.async.balanceEverySeconds; 0: never).</summary>
    public double BalanceEverySeconds { get; init; }

    /// <summary>The -balance variants' period: on reasoning-32k a response grows by about 2,000 tokens in it (8 ms a token on one H800).</summary>
    public const double BalancePeriod = 15;

    /// <summary>How many long-tail instances the LongTailTensorParallel variants have.</summary>
    public const int LongTailWorkers = 4;

    /// <summary>The share of a step's samples left when its tail is gathered onto long-tail instances that take tails.</summary>
    public const double TailRemaining = 0.05;


    /// <summary>
    /// Iterations before the measured ones: one, and for async-k k more, since the first k + 1 steps are all
    /// generated with the first weights from the start, and only then does each step wait for its version; then
    /// a whole wave more (k + 1), since those first steps, all launched at once on idle workers, leave the next
    /// wave's steps generated ahead: measured from there, async-4 and async-8 on 128 H800 came out at 62.8 and
    /// 43.7 s a step over their first wave and 88.2 and 75.2 s over 24 and 27 steps (its later waves 87-93 s);
    /// with runAhead needed 2 k more instead (it climbs one step at a time, no burst), as the job starts one step
    /// ahead and goes one further each step the trainer waits (measured at 1 + k: the steps launched on the way up were in the measured ones, a third of them one
    /// version old where the job ran two ahead, and 52 % slower); the dispatch ablation's two more, its dataset's
    /// first epoch (prompts the ranker has not seen yet).
    /// </summary>
    public int WarmUp => 1 + Staleness + (RunAhead == RunAhead.Needed ? 2 * Staleness : Staleness > 0 ? Staleness + 1 : 0) + (Dispatch is null ? 0 : DatasetSteps);

    /// <summary>The dispatch ablation's dataset: this many steps' prompts, unless the workload gives one.</summary>
    private const int DatasetSteps = 2;

    /// <summary>
    /// Iterations after the measured ones: async-k's last k steps were generated ahead while the steps
    /// before trained and only train, so they would flatter it; the run goes on k steps past the measured ones.
    /// </summary>
    public int CoolDown => Staleness;

    /// <summary>
    /// Steps measured for <paramref name="asked"/>: async-k rounds up to a multiple of k + 1. Its steps come in
    /// waves of k + 1 (the first k + 1 generated together with the first weights; each of their trainings
    /// launches one of the next k + 1, which then generate together), so a window of part of a wave measures
    /// only the steps that were generated while others trained (measured, 3 steps of async-4 came out at half
    /// the bound's time before this). Tail batching rounds up to whole cycles of its rounds on
    /// <paramref name="rl"/>'s job: a window of short rounds only would leave out the long round that trains what they deferred.
    /// </summary>
    public int Measured(int asked, RlSpec? rl = null)
    {
        var wave = TailBatch && rl is not null ? TailBatchCycle(rl) : Staleness + 1;
        return (asked + wave - 1) / wave * wave;
    }

    /// <summary>
    /// Steps from one long round to the next: a short round defers the prompts it launched beyond
    /// promptsPerIteration, so one long round follows every ceil(prompts / deferred) short ones.
    /// </summary>
    public static int TailBatchCycle(RlSpec rl)
    {
        var deferred = new TailBatchingSpec().Prompts(rl) - rl.PromptsPerIteration;
        return deferred == 0 ? 1 : (rl.PromptsPerIteration + deferred - 1) / deferred + 1;
    }

    /// <summary>What bench runs without --policies: the baseline and the two disaggregated policies.</summary>
    public static IReadOnlyList<BenchVariant> Default { get; } = All.Take(3).ToArray();

    /// <summary>The baseline every speed-up is measured against.</summary>
    public const string Baseline = "colocated-barrier";

    public static BenchVariant Parse(string name) => All.FirstOrDefault(v => v.Name == name)
        ?? throw new ArgumentException($"'{name}' is not one of {string.Join(", ", All.Select(v => v.Name))}");

    /// <summary>The workload as this variant runs it, named after it.</summary>
    public JobSpec Apply(JobSpec workload)
    {
        var placed = Placement == RolePlacement.Colocated ? EmulatedJob.ColocatedAtSameDevices(workload) : workload;
        return placed with
        {
            Name = $"{workload.Name}-{Name}",
            Iterations = WarmUp + Measured(workload.Iterations - 1, workload.Rl) + CoolDown,
            Rl = placed.Rl! with
            {
                StagePolicy = Policy,
                Async = Staleness > 0 ? new AsyncSpec { MaxStaleness = Staleness, PartialRollouts = Partial, InterruptedCache = Interrupted, StreamTraining = Stream, RunAhead = RunAhead, BalanceEverySeconds = BalanceEverySeconds } : null,
                Dispatch = Dispatch ?? (Staleness > 0 ? DispatchPolicy.Pull : placed.Rl.Dispatch),
                GenerationWorkers = LongTailTensorParallel is { } t ? placed.Rl.GenerationWorkers - LongTailWorkers * (t / placed.Rl.Emulation!.GenerationTensorParallel - 1) : placed.Rl.GenerationWorkers,
                Emulation = EmulationOf(placed.Rl),
                TailBatching = TailBatch ? new TailBatchingSpec() : null,
                Pipeline = Pipeline is { } schedule ? PipelineOf(placed.Rl, schedule) : placed.Rl.Pipeline,
                Pools = Pools ?? placed.Rl.Pools,
                Migration = LongTailRole == LongTailRole.Tail ? new MigrationSpec { Remaining = TailRemaining, Workers = LongTailWorkers } : placed.Rl.Migration,
                MiniBatchOrder = LongTogether ? MiniBatchOrder.LongTogether : placed.Rl.MiniBatchOrder,
                TrainEarly = TrainEarly || placed.Rl.TrainEarly,
            },
        };
    }

    /// <summary>The workload's emulation as the variant runs it: the dispatch ablation's dataset, the second datacenter.</summary>
    private EmulationSpec? EmulationOf(RlSpec rl)
    {
        var emulation = rl.Emulation;
        if (Dispatch is not null && emulation is { DatasetPrompts: 0 }) emulation = emulation with { DatasetPrompts = DatasetSteps * rl.PromptsPerIteration };
        if (CrossDatacenter is not null && emulation is not null) emulation = emulation with { CrossDatacenterLink = CrossDatacenter };
        if (LongTailTensorParallel is { } t && emulation is not null) emulation = emulation with { LongTail = new LongTailSpec { Workers = LongTailWorkers, TensorParallel = t, Role = LongTailRole } };
        return emulation;
    }

    /// <summary>
    /// The pipeline a variant trains with: the actor in 8 stages (4 copies on 32 colocated devices), the critic
    /// in 4 (two replicas on each actor pipeline's devices when fused, RLHFuse's bidirectional layout), 16
    /// micro-batches per actor replica; fewer stages where the devices are fewer.
    /// </summary>
    public static PipelineSpec PipelineOf(RlSpec rl, PipelineScheduleKind schedule)
    {
        var stages = Math.Min(8, rl.GenerationWorkers);
        return new PipelineSpec
        {
            Stages = stages, CriticStages = rl.NeedsCritic ? Math.Max(1, stages / 2) : null, Schedule = schedule,
            MicroBatches = Math.Min(16, rl.PromptsPerIteration * rl.SamplesPerPrompt / rl.MiniBatches / Math.Max(1, rl.GenerationWorkers / stages)),
        };
    }

    /// <summary>
    /// The variant's job with its migration: for a migrating variant, the plan <see cref="TailPlanner"/> chooses
    /// over the job's first step (its lengths drawn as the job will draw them), or none where no plan frees
    /// devices without slowing the step's generation (training early: none where no plan's step is predicted sooner).
    /// </summary>
    public (JobSpec Job, TailPlanner.Plan? Plan) WithMigration(JobSpec job)
    {
        if (Migrate is not { } move) return (job, null);
        var workload = new EmulatedJob(job).Workload(1);
        var transfer = move == MigrationMove.Prefill ? null : new CacheTransfer(workload.WeightLink, Always: move == MigrationMove.Cache);
        var plan = TrainEarly ? TailPlanner.ChooseForEarlyTraining(workload, transfer) : TailPlanner.Choose(workload, transfer);
        var migration = plan.Workers > 0 ? new MigrationSpec { Remaining = plan.Remaining, Workers = plan.Workers, Move = move } : null;
        return (job with { Rl = job.Rl! with { Migration = migration } }, plan);
    }
}
