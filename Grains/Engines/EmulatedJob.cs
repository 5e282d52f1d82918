using Grains.Data;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// An emulated rl job's devices, from its "emulation" section: what each worker, scorer and trainer is
/// told, the lengths its samples reach, and the analytic figures it is measured against (the barrier
/// prediction and the ideal bound). Constructing one checks every name; a bad one is reported as
/// "rl.emulation.field: problem".
/// </summary>
public sealed partial class EmulatedJob
{
    private readonly JobSpec job;
    private readonly RlSpec rl;
    private readonly EmulationSpec spec;
    private readonly EpochOrder? order;

    public EmulatedJob(JobSpec job)
    {
        (this.job, rl) = (job, job.Rl ?? throw new ArgumentException("rl: required"));
        spec = rl.Emulation ?? throw new ArgumentException("rl.emulation: required when devices is 'emulated'");
        Check("deviceClass", () => DeviceClass.Parse(spec.DeviceClass));
        if (spec.GenerationDeviceClass is { } generation)
        {
            Check("generationDeviceClass", () => DeviceClass.Parse(generation));
            if (Colocated && GenerationClass != TrainingClass) throw new ArgumentException($"rl.emulation.generationDeviceClass: colocated roles share their devices, so it must be deviceClass ({spec.DeviceClass}) or left out");
            if (rl.Pools is { Split: PoolSplit.Auto } or { Elastic: true } && GenerationClass != TrainingClass)
            {
                throw new ArgumentException($"rl.pools.split: the pools are of two classes ({GenerationClass} generating, {TrainingClass} training), and a device moved between them would change class; use split 'target' or 'fixed'");
            }
        }
        if (spec.Prices?.Keys.GroupBy(k => k, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
        {
            throw new ArgumentException($"rl.emulation.prices: {Quoted(twice.Key)} is priced twice");
        }
        if (Prices is { } prices)
        {
            foreach (var (device, _) in DevicesByClass.Where(d => !prices.ContainsKey(d.Key)))
            {
                throw new ArgumentException($"rl.emulation.prices: no price for {device}, which the job's {(device == GenerationClass && device != TrainingClass ? "generation workers" : "devices")} are; give one per device-hour");
            }
            foreach (var (device, price) in prices.Where(p => !(double.IsFinite(p.Value) && p.Value > 0)))
            {
                throw new ArgumentException($"rl.emulation.prices: {Quoted(device)} costs {price}, not a positive price per device-hour");
            }
        }
        Check("actor", () => ModelShape.Parse(spec.Actor));
        if (spec.Critic is { } critic) Check("critic", () => ModelShape.Parse(critic));
        if (spec.RewardModel is { } reward) Check("rewardModel", () => ModelShape.Parse(reward));
        Check("weightLink", () => Link.Parse(spec.WeightLink));
        if (spec.CrossDatacenterLink is { } crossing)
        {
            Check("crossDatacenterLink", () => Link.Parse(crossing));
            if (Colocated) throw new ArgumentException("rl.emulation.crossDatacenterLink: colocated roles share their devices, so they are in one datacenter; use placement 'disaggregated' or remove it");
        }
        order = spec.DatasetPrompts > 0 ? new EpochOrder(job.Seed, spec.DatasetPrompts) : null;
        Lengths = Check("lengths", () => new LengthModel(LengthDistribution.Parse(spec.Lengths), spec.LengthCorrelation, spec.LengthDrift));
        if (rl.MaxBatch > 0 && EmulatedCosts.Of(Device(spec.GenerationTensorParallel)).MaxCachedTokens() < spec.PromptLength + Lengths.Max)
        {
            throw new ArgumentException($"rl.emulation.generationTensorParallel: {spec.Actor} on {spec.GenerationTensorParallel} {GenerationClass} has no room for one sample of {spec.PromptLength + Lengths.Max} tokens; use more devices per worker");
        }
    }

    public LengthModel Lengths { get; }

    /// <summary>
    /// The seed (the length latent) of the prompt drawn <paramref name="drawn"/>-th since the job began, at
    /// place <paramref name="place"/> of step <paramref name="iteration"/>: with a dataset size, that of its
    /// prompt in the dataset (the same each epoch); without, a new one.
    /// </summary>
    public long PromptSeed(int iteration, int place, long drawn) =>
        order is null ? Seeds.Prompt(job.Seed, iteration, place) : Seeds.Mix(job.Seed, order.Index(drawn), 0xDA7A);
    public int PromptLength => spec.PromptLength;
    public double TimeScale => spec.TimeScale;
    private string CriticShape => spec.Critic ?? spec.Actor;

    /// <summary>The generation workers' device class, as the cost model names it.</summary>
    public string GenerationClass => DeviceClass.Parse(spec.GenerationDeviceClass ?? spec.DeviceClass).Name;

    private string TrainingClass => DeviceClass.Parse(spec.DeviceClass).Name;

    /// <summary>The workload's prices by class, whatever case its file spells them in.</summary>
    private Dictionary<string, double>? Prices => spec.Prices is { } prices ? new(prices, StringComparer.OrdinalIgnoreCase) : null;

    private static string Quoted(string text) => Kernels.Text.Excerpt.Of(text);

    /// <summary>What a regular generation worker is told.</summary>
    public EmulatedGenerator Generator => GeneratorOf(spec.GenerationTensorParallel);

    /// <summary>What generation worker <paramref name="worker"/> (its index in the job) is told: a long-tail instance (rl.emulation.longTail) spans its own devices.</summary>
    public EmulatedGenerator GeneratorFor(int worker) =>
        spec.LongTail is { } longTail && worker < longTail.Workers ? GeneratorOf(longTail.TensorParallel) : Generator;

    private EmulatedGenerator GeneratorOf(int tensorParallel) => new(Device(tensorParallel) with { DeviceClass = GenerationClass }, spec.Lengths, spec.WeightLink, spec.LengthCorrelation, spec.LengthDrift,
        spec.CrossDatacenterLink, rl.GenerationWorkers) { Tools = spec.Tools };

    /// <summary>The generation workers' devices: each worker's tensor-parallel degree, a long-tail instance's its own.</summary>
    private int GenerationDevices => rl.GenerationWorkers * spec.GenerationTensorParallel
        + (spec.LongTail is { } l ? l.Workers * (l.TensorParallel - spec.GenerationTensorParallel) : 0);

    public EmulatedScorer Scorer => new(Device(spec.InferenceTensorParallel), rl.NeedsCritic ? CriticShape : null, spec.RewardModel, spec.InferenceDevices);

    /// <summary>The shape of the trained actor or critic.</summary>
    public ModelShape Shape(bool critic) => ModelShape.Parse(critic ? CriticShape : spec.Actor);

    public EmulatedDevice Trainer(bool critic) => Device(spec.TrainingTensorParallel) with { Model = critic ? CriticShape : spec.Actor };

    /// <summary>Every device the job occupies: instances times their tensor-parallel degree (colocated: the workers' devices, which host every role).</summary>
    public int Devices => Colocated ? rl.GenerationWorkers * spec.GenerationTensorParallel
        : GenerationDevices + spec.InferenceDevices * spec.InferenceTensorParallel
            + rl.TrainingReplicas * spec.TrainingTensorParallel * (rl.NeedsCritic ? 2 : 1);

    private bool Colocated => rl.Placement == RolePlacement.Colocated;

    /// <summary>The devices the job occupies, by class: the generation workers' on theirs, the rest on deviceClass.</summary>
    public IReadOnlyDictionary<string, int> DevicesByClass
    {
        get
        {
            var generation = Colocated ? 0 : GenerationDevices;
            var byClass = new Dictionary<string, int> { [TrainingClass] = Devices - generation };
            byClass[GenerationClass] = byClass.GetValueOrDefault(GenerationClass) + generation;
            return byClass;
        }
    }

    /// <summary>What the job's devices cost an hour at the workload's prices; null without prices.</summary>
    public double? CostPerHour => Prices is { } prices ? DevicesByClass.Sum(d => d.Value * prices[d.Key]) : null;

    /// <summary>
    /// The same workload colocated on as many devices (verl's hybrid engine, the published baseline): a
    /// worker, a scorer and a replica of each trained model on every group of generationTensorParallel devices.
    /// </summary>
    public static JobSpec ColocatedAtSameDevices(JobSpec workload)
    {
        var emulated = new EmulatedJob(workload);
        var spec = workload.Rl!.Emulation!;
        var tp = spec.GenerationTensorParallel;
        if (emulated.Devices % tp != 0) throw new ArgumentException($"rl.emulation.generationTensorParallel: {emulated.Devices} devices do not split into groups of {tp}");
        var groups = emulated.Devices / tp;
        return workload with
        {
            Rl = workload.Rl with
            {
                Placement = RolePlacement.Colocated, GenerationWorkers = groups, TrainingReplicas = groups,
                Emulation = spec with { InferenceDevices = groups, InferenceTensorParallel = tp, TrainingTensorParallel = tp, GenerationDeviceClass = null, LongTail = null },
            },
        };
    }

    /// <summary>
    /// One micro-batch's training forward through one stage of the actor and of the critic, at the prompt
    /// length plus the median response: a stage holds layers / stages of its model, and a micro-batch
    /// holds the mini-batch's samples over the model's pipelines and their micro-batches.
    /// </summary>
    public StagePassTimes StagePassTimes()
    {
        var pipeline = rl.Pipeline ?? throw new ArgumentException("rl.pipeline: required");
        var sequence = spec.PromptLength + Lengths.Marginal.Quantile(0.5);
        var miniBatch = (double)rl.PromptsPerIteration * rl.SamplesPerPrompt / rl.MiniBatches;
        double Pass(bool critic, int stages, int pipelines, int microBatches)
        {
            var cost = EmulatedCosts.Of(Trainer(critic));
            var sequences = Math.Max(1, (int)Math.Round(miniBatch / pipelines / microBatches));
            return cost.StageForwardSeconds(Math.Max(1, cost.Model.Layers / stages), false, Enumerable.Repeat(sequence, sequences).ToArray());
        }
        var fused = pipeline.Schedule == PipelineScheduleKind.Fused;
        var criticMicroBatches = fused ? pipeline.MicroBatches / (pipeline.Stages / pipeline.CriticStagesOrActor) : pipeline.MicroBatches;
        return new StagePassTimes(Pass(false, pipeline.Stages, pipeline.Replicas(rl), pipeline.MicroBatches),
            rl.NeedsCritic ? Pass(true, pipeline.CriticStagesOrActor, pipeline.CriticReplicas(rl), criticMicroBatches) : 1);
    }

    /// <summary>
    /// Iteration <paramref name="iteration"/>'s samples and cluster, as the job will run them (generated with weights
    /// version max(0, iteration - 1 - maxStaleness)); or, given <paramref name="responses"/>, the same cluster training
    /// samples of those response lengths (what a tail-batching round kept, which are not the workload's).
    /// </summary>
    public EmulatedWorkload Workload(int iteration, IReadOnlyList<int>? responses = null)
    {
        var count = responses?.Count ?? rl.PromptsPerIteration * rl.SamplesPerPrompt;
        var version = Math.Max(0, iteration - 1 - rl.Staleness);
        var samples = Enumerable.Range(0, count)
            .Select(k => (Prompt: spec.PromptLength, Response: responses?[k] ?? EmulatedCosts.ResponseLength(Lengths, PromptSeed(iteration, k / rl.SamplesPerPrompt, (iteration - 1L) * rl.PromptsPerIteration + k / rl.SamplesPerPrompt),
                Seeds.Sample(job.Seed, iteration, k), version, Lengths.Max))).ToArray();
        var scorer = Scorer;
        var scoring = new[] { scorer.Device.Model, scorer.CriticModel, scorer.RewardModel }.OfType<string>().Select(m => EmulatedCosts.Of(scorer.Device, m)).ToArray();
        long[] tokens = [.. samples.Select(s => (long)s.Prompt + s.Response)];
        var steps = MiniBatchPlan.For(rl, job.Seed, iteration, tokens)
            .Select(step => (IReadOnlyList<int[]>)MiniBatchPlan.BalancedShares([.. step.Select(k => tokens[k])], rl.TrainingReplicas)
                .Select(share => share.Select(p => step[p]).ToArray()).ToArray())
            .ToArray();
        return new EmulatedWorkload(samples, EmulatedCosts.Of(Generator.Device), rl.GenerationWorkers, rl.MaxBatch, scoring, spec.InferenceDevices,
            EmulatedCosts.Of(Trainer(critic: false)), rl.NeedsCritic ? EmulatedCosts.Of(Trainer(critic: true)) : null, steps, Link.Parse(spec.WeightLink),
            Colocated ? new RoleSwitch(DeviceClass.Parse(spec.DeviceClass), ModelShape.Parse(spec.Actor), rl.NeedsCritic ? ModelShape.Parse(CriticShape) : null,
                spec.RewardModel is null ? null : ModelShape.Parse(spec.RewardModel), spec.GenerationTensorParallel, Devices) : null)
        {
            LongTail = LongTail,
            ProximalForward = rl.Async is { Decoupled: true, MaxStaleness: > 0, StreamTraining: false },
        };
    }

    /// <summary>The long-tail instances (rl.emulation.longTail) with their cost model; null without.</summary>
    public LongTailInstances? LongTail => spec.LongTail is { } longTail ? new LongTailInstances(EmulatedCosts.Of(GeneratorOf(longTail.TensorParallel).Device), longTail.Workers) : null;

    private EmulatedDevice Device(int tensorParallel) => new(spec.DeviceClass, spec.Actor, tensorParallel, spec.TimeScale,
        Colocated ? new HybridPool(spec.Actor, rl.NeedsCritic ? CriticShape : null, spec.RewardModel, Devices) : null);

    private static T Check<T>(string field, Func<T> parse)
    {
        try
        {
            return parse();
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
        {
            throw new ArgumentException($"rl.emulation.{field}: {e.Message}", e);
        }
    }
}
