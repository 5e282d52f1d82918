using Grains.Models;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Pipeline;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;

namespace Grains.Pipeline;

/// <summary>
/// What one pipelined step did: its wall seconds, each device's busy seconds, the bubble fraction, and per model
/// the loss sums and gradient norm (a DPO step's: the sums of its pairs too).
/// </summary>
public sealed record PipelineStepResult(double Seconds, double[] DeviceBusy, double BubbleFraction, TrainSums[] Sums, double[] GradNorm, StageReport[] Stages)
{
    /// <summary>A DPO step's sums over its pairs (the last stages' reports).</summary>
    public PairSums Pairs => Stages.Aggregate(PairSums.Zero, (a, r) => r.Pairs is { } p ? a + p : a);
}

/// <summary>
/// Sets up the stage grains a schedule needs and starts its steps: it hands each micro-batch grain its
/// samples and each stage grain its passes, then waits for the stages' reports. Activations and
/// gradients go from stage to stage without passing through here.
/// </summary>
public sealed class PipelineTrainer
{
    private readonly IGrainFactory grains;
    private readonly string job;
    private readonly IReadOnlyList<TrainerSetup> trainers;
    private readonly bool bfloat16;
    private readonly Dictionary<(int Model, int Replica, int Stage), int> deviceOf = [];

    /// <param name="trainers">One per model of the schedule, in its order: what each model is and how it trains.</param>
    public PipelineTrainer(IGrainFactory grains, string job, PipelineSchedule schedule, IReadOnlyList<TrainerSetup> trainers, bool bfloat16 = false)
    {
        if (PipelineSchedules.Problem(schedule) is { } problem) throw new ArgumentException($"schedule '{schedule.Name}': {problem}");
        if (trainers.Count != schedule.Models.Length) throw new ArgumentException($"schedule '{schedule.Name}' has {schedule.Models.Length} model(s) but {trainers.Count} trainer setup(s) were given");
        (this.grains, this.job, Schedule, this.trainers, this.bfloat16) = (grains, job, schedule, trainers, bfloat16);
        for (var d = 0; d < schedule.Devices.Length; d++)
        {
            foreach (var pass in schedule.Devices[d]) deviceOf[(pass.Model, pass.Replica, pass.Stage)] = d;
        }
    }

    public PipelineSchedule Schedule { get; }

    public string StageKey(int model, int replica, int stage) =>
        PipelineKeys.Stage(job, Schedule.Models[model].Name, replica, stage, deviceOf[(model, replica, stage)]);

    public async Task Setup()
    {
        var setups = new List<Task>();
        for (var m = 0; m < Schedule.Models.Length; m++)
        {
            var layout = Schedule.Models[m];
            for (var r = 0; r < layout.Replicas; r++)
            {
                for (var s = 0; s < layout.Stages; s++)
                {
                    var (model, replica, stage) = (m, r, s);
                    var setup = new StageSetup(trainers[m], r, s, layout.Stages, bfloat16,
                        s > 0 ? StageKey(m, r, s - 1) : null, s < layout.Stages - 1 ? StageKey(m, r, s + 1) : null,
                        [.. Enumerable.Range(0, layout.Replicas).Where(x => x != replica).Select(x => StageKey(model, x, stage))],
                        [.. Enumerable.Range(0, layout.Stages).Where(x => x != stage).Select(x => StageKey(model, replica, x))]);
                    setups.Add(grains.GetGrain<IPipelineStageGrain>(StageKey(m, r, s)).Setup(setup));
                }
            }
        }
        await Task.WhenAll(setups);
    }

    /// <summary>Runs step <paramref name="step"/> on <paramref name="rows"/>[model][replica][micro-batch]; the loss of each model is its token mean over all its rows.</summary>
    public Task<PipelineStepResult> Step(long step, TrainingRow[][][][] rows)
    {
        CheckShape(rows, "sample");
        var tokens = rows.Select(model => (double)model.Sum(replica => replica.Sum(mb => mb.Sum(row => row.PolicyTokens)))).ToArray();
        return Run(step, tokens, (m, r, i, microBatch) => microBatch.Assign(step, rows[m][r][i]));
    }

    /// <summary>
    /// Runs DPO step <paramref name="step"/> of the schedule's one model on <paramref name="pairs"/>[replica][micro-batch];
    /// the loss is the mean over all the pairs.
    /// </summary>
    public Task<PipelineStepResult> PreferenceStep(long step, PreferenceRow[][][] pairs, PreferenceLossKind loss, double beta)
    {
        if (Schedule.Models.Length != 1) throw new ArgumentException($"a preference step trains one model, but schedule '{Schedule.Name}' has {Schedule.Models.Length}");
        CheckShape([pairs], "pair");
        var count = pairs.Sum(replica => replica.Sum(mb => mb.Length));
        return Run(step, [count], (_, r, i, microBatch) => microBatch.AssignPairs(step, new PreferenceBatch(pairs[r][i], count, loss, beta)));
    }

    /// <summary>Hands each micro-batch grain its share (<paramref name="assign"/>: model, replica, index), runs the stages' passes and gathers their reports.</summary>
    private async Task<PipelineStepResult> Run(long step, double[] divisors, Func<int, int, int, IMicroBatchGrain, Task> assign)
    {
        var microBatches = MicroBatchKeys(Schedule.Models.Select(l => Enumerable.Repeat(l.MicroBatches, l.Replicas).ToArray()).ToArray());
        await Task.WhenAll(Schedule.Models.SelectMany((l, m) => Enumerable.Range(0, l.Replicas).SelectMany(r => Enumerable.Range(0, l.MicroBatches)
            .Select(i => assign(m, r, i, grains.GetGrain<IMicroBatchGrain>(microBatches[m][r][i]))))));
        var (reports, owners) = await Passes(step, StagePasses(), microBatches, divisors, inference: false);

        var seconds = reports.Max(r => r.Seconds);
        var busy = new double[Schedule.Devices.Length];
        foreach (var report in reports) busy[DeviceIndex(report.Device)] += report.BusySeconds;
        var bubble = seconds > 0 ? busy.Sum(b => Math.Max(0, seconds - b)) / (seconds * busy.Length) : 0;
        var byModel = Enumerable.Range(0, Schedule.Models.Length).Select(m => reports.Where((_, i) => owners[i].Model == m).ToArray()).ToArray();
        return new PipelineStepResult(seconds, busy, bubble,
            byModel.Select(rs => rs.Aggregate(TrainSums.Zero, (a, r) => a + r.Sums)).ToArray(),
            byModel.Select(rs => rs.Length == 0 ? 0 : rs[0].GradNorm).ToArray(), reports);
    }

    /// <summary>
    /// Model <paramref name="model"/>'s log-probs of <paramref name="rows"/>[replica][micro-batch] under its
    /// current weights (the proximal policy of an asynchronous job's decoupled loss): forward passes alone
    /// through its stages, each device taking its micro-batches in order, in step <paramref name="step"/> of
    /// the devices' turns; nothing is kept for a backward and nothing is updated. Returned as the rows were given.
    /// </summary>
    public async Task<float[][][][]> LogProbs(long step, int model, TrainingRow[][][] rows)
    {
        var layout = Schedule.Models[model];
        if (rows.Length != layout.Replicas || rows.Any(replica => replica.Any(mb => mb.Length == 0)))
        {
            throw new ArgumentException($"{layout.Name} needs rows for {layout.Replicas} replica(s) (none for a replica that has none), in micro-batches of at least one sample");
        }
        var counts = Schedule.Models.Select((l, m) => m == model ? rows.Select(r => r.Length).ToArray() : new int[l.Replicas]).ToArray();
        var microBatches = MicroBatchKeys(counts);
        await Task.WhenAll(rows.SelectMany((replica, r) => replica.Select((share, i) => grains.GetGrain<IMicroBatchGrain>(microBatches[model][r][i]).Assign(step, share))));
        // Each device's forward passes of this model, micro-batch by micro-batch (a stage's input comes from the stage before, so no device waits on a later place).
        var orders = (from r in Enumerable.Range(0, layout.Replicas)
                      from i in Enumerable.Range(0, rows[r].Length)
                      from s in Enumerable.Range(0, layout.Stages)
                      select new PipelinePass(model, r, i, s, Backward: false))
            .GroupBy(p => deviceOf[(p.Model, p.Replica, p.Stage)])
            .SelectMany(device => device.OrderBy(p => p.MicroBatch).ThenBy(p => p.Stage).ThenBy(p => p.Replica).Select((pass, place) => (place, pass)));
        var stagePasses = orders.GroupBy(x => (x.pass.Replica, x.pass.Stage)).OrderBy(g => g.Key)
            .Select(g => (StageKey(model, g.Key.Replica, g.Key.Stage), model, g.Key.Replica, g.Select(x => (x.place, x.pass)).ToArray()));
        var (reports, owners) = await Passes(step, stagePasses, microBatches, new double[Schedule.Models.Length], inference: true);
        var result = rows.Select(replica => replica.Select(share => new float[share.Length][]).ToArray()).ToArray();
        for (var k = 0; k < reports.Length; k++)
        {
            foreach (var microBatch in reports[k].LogProbs ?? []) result[owners[k].Replica][microBatch.MicroBatch] = microBatch.Rows;
        }
        return result;
    }

    /// <summary>The micro-batch grains' keys, [model][replica][micro-batch], for <paramref name="counts"/>[model][replica] micro-batches.</summary>
    private string[][][] MicroBatchKeys(int[][] counts) =>
        [.. Schedule.Models.Select((l, m) => counts[m].Select((count, r) => Enumerable.Range(0, count).Select(i => PipelineKeys.MicroBatch(job, l.Name, r, i)).ToArray()).ToArray())];

    /// <summary>Runs each stage grain's passes and gathers their reports (and each report's model and replica); one stage failing aborts the others, which would wait for its messages forever.</summary>
    private async Task<(StageReport[] Reports, List<(int Model, int Replica)> Owners)> Passes(long step, IEnumerable<(string Key, int Model, int Replica, (int Place, PipelinePass Pass)[] Passes)> stagePasses,
        string[][][] microBatches, double[] divisors, bool inference)
    {
        var runs = new List<Task<StageReport>>();
        var keys = new List<string>();
        var owners = new List<(int Model, int Replica)>();
        foreach (var (key, model, replica, passes) in stagePasses)
        {
            keys.Add(key);
            owners.Add((model, replica));
            runs.Add(grains.GetGrain<IPipelineStageGrain>(key).Run(new StageStep(step, PipelineKeys.DeviceSlot(key)!,
                passes.Select(p => p.Place).ToArray(), passes.Select(p => p.Pass).ToArray(), microBatches[model][replica], divisors[model], inference)));
        }
        var pending = runs.ToList<Task>();
        while (pending.Count > 0)
        {
            var ended = await Task.WhenAny(pending);
            pending.Remove(ended);
            if (ended.IsFaulted)
            {
                var reason = ended.Exception!.InnerException!;
                await Task.WhenAll(keys.Select(k => grains.GetGrain<IPipelineStageGrain>(k).Abort(step, reason.Message)));
                throw new InvalidOperationException($"pipeline step {step} of '{Schedule.Name}' failed: {reason.Message}", reason);
            }
        }
        return (runs.Select(r => r.Result).ToArray(), owners);
    }

    /// <summary>
    /// Gives the stages' devices back: each stage grain leaves once its calls end; returns when the directory
    /// has them free (<paramref name="shared"/>: at once, as a colocated job's devices stay with its other roles).
    /// </summary>
    public async Task Release(bool shared = false)
    {
        var keys = StagePasses().Select(s => s.Key).ToArray();
        await Task.WhenAll(keys.Select(k => grains.GetGrain<IPipelineStageGrain>(k).Vacate()));
        if (shared) return;
        var holders = keys.Select(k => Placement.LeaseHolder.Of(grains.GetGrain<IPipelineStageGrain>(k).GetGrainId())).ToHashSet();
        var directory = grains.GetGrain<IDeviceDirectoryGrain>(0);
        for (var wait = 0; wait < 200 && (await directory.Leases()).Any(l => holders.Contains(l.Holder)); wait++) await Task.Delay(50);
    }

    /// <summary>The weights of one replica of a model, stage by stage (safetensors bytes under the whole model's names).</summary>
    public Task<byte[][]> Weights(int model, int replica = 0) =>
        Task.WhenAll(Enumerable.Range(0, Schedule.Models[model].Stages).Select(s => grains.GetGrain<IPipelineStageGrain>(StageKey(model, replica, s)).Weights()));

    /// <summary>Writes one model's whole weights (replica 0's stages merged) to the checkpoint store.</summary>
    public async Task Publish(int model, ICheckpointStore store, string objectName) =>
        await ModelCatalog.WriteAsync(store, objectName, ModelCatalog.Merge(await Weights(model)));

    /// <summary>Every replica's stages of one model load their layers from a whole model's weights in the store.</summary>
    public Task LoadWeights(int model, string objectName) => Task.WhenAll(Stages(model).Select(g => g.LoadWeights(objectName)));

    /// <summary>Replica 0's stages of every model write their weights and optimizer state under <paramref name="prefix"/>.</summary>
    public Task SaveState(string prefix) =>
        Task.WhenAll(Enumerable.Range(0, Schedule.Models.Length).SelectMany(m => Stages(m, replica: 0)).Select(g => g.SaveState(prefix)));

    /// <summary>Every stage of every replica reads the state replica 0 wrote.</summary>
    public Task LoadState(string prefix) => Task.WhenAll(Enumerable.Range(0, Schedule.Models.Length).SelectMany(m => Stages(m)).Select(g => g.LoadState(prefix)));

    private IEnumerable<IPipelineStageGrain> Stages(int model, int? replica = null) =>
        Enumerable.Range(0, Schedule.Models[model].Replicas).Where(r => replica is null || r == replica)
            .SelectMany(r => Enumerable.Range(0, Schedule.Models[model].Stages).Select(s => grains.GetGrain<IPipelineStageGrain>(StageKey(model, r, s))));

    /// <summary>Each stage grain's passes with their places in its device's order.</summary>
    private IEnumerable<(string Key, int Model, int Replica, (int Place, PipelinePass Pass)[] Passes)> StagePasses() =>
        Schedule.Devices.SelectMany(order => order.Select((pass, place) => (place, pass)))
            .GroupBy(x => (x.pass.Model, x.pass.Replica, x.pass.Stage))
            .OrderBy(g => g.Key)
            .Select(g => (StageKey(g.Key.Model, g.Key.Replica, g.Key.Stage), g.Key.Model, g.Key.Replica, g.Select(x => (x.place, x.pass)).ToArray()));

    private int DeviceIndex(string slot) => int.Parse(slot[(slot.LastIndexOf("/d", StringComparison.Ordinal) + 2)..]);

    private void CheckShape<T>(T[][][][] rows, string what)
    {
        if (rows.Length != Schedule.Models.Length) throw new ArgumentException($"rows for {rows.Length} model(s), but the schedule trains {Schedule.Models.Length}");
        for (var m = 0; m < rows.Length; m++)
        {
            var layout = Schedule.Models[m];
            if (rows[m].Length != layout.Replicas || rows[m].Any(r => r.Length != layout.MicroBatches || r.Any(mb => mb.Length == 0)))
            {
                throw new ArgumentException($"{layout.Name} needs {layout.Replicas} replica(s) of {layout.MicroBatches} micro-batch(es) of at least one {what}");
            }
        }
    }
}
