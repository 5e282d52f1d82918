using Grains.Cluster;
using Grains.Data;
using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;

namespace Grains.Iteration;

/// <summary>
/// Trainer grains, one per data-parallel replica of the actor (and of the critic): each step every
/// replica computes the gradient of its share of the mini-batch, the shares are summed in replica order
/// and every replica applies the sum, so the replicas stay identical. The job runs <paramref name="replicas"/>
/// of them (trainingReplicas unless given); elastic pools grow and shrink that, up to <paramref name="most"/>.
/// </summary>
public sealed class DataParallelBackend(JobSpec job, IGrainFactory grains, EmulatedJob? emulated, int? replicas = null, int? most = null) : ITrainerBackend, IPartwiseTrainer, IEarlyTrainer
{
    // Chunks of an early step per replica: enough that the replicas freed last share the end of the mini-batch
    // with those freed first, few enough that each chunk is a batch of rows.
    private const int ChunksPerReplica = 8;

    private readonly JobKeys keys = JobKeys.For(job);
    private readonly ITrainerGrain[] actorPool = Replicas(job, grains, "actor", most ?? replicas ?? job.Rl!.TrainingReplicas);
    private readonly ITrainerGrain[] criticPool = job.Rl!.NeedsCritic ? Replicas(job, grains, "critic", most ?? replicas ?? job.Rl!.TrainingReplicas) : [];
    private int active = replicas ?? job.Rl!.TrainingReplicas;
    // The most replicas ever active: those that may hold a device.
    private int reached = replicas ?? job.Rl!.TrainingReplicas;
    private ITrainerGrain[] Actors => actorPool[..active];
    private ITrainerGrain[] Critics => criticPool.Length == 0 ? [] : criticPool[..active];
    private static readonly IReadOnlyDictionary<string, double> NoDevices = new Dictionary<string, double>();

    public double? ExpectedBubble => null;

    public async Task Start(int start, Func<ITrainerGrain, Task> warmStart)
    {
        // From the beginning, every replica starts from its seed, whatever an earlier run left in it.
        if (start == 0) await Task.WhenAll(Actors.Concat(Critics).Select(t => t.Reset()));
        // Going on from a checkpoint after a silo's loss, the lost trainers' devices may come with a
        // replacement silo: they are waited for; a new job on too few devices fails at once.
        Func<Func<Task>, Task> place = start > 0 ? Placed : call => call();
        await Task.WhenAll(Actors.Select(a => place(() => a.Setup(TrainerSetups.For(job, critic: false, emulated)))));
        await Task.WhenAll(Critics.Select(c => place(() => c.Setup(TrainerSetups.For(job, critic: true, emulated)))));
        if (start > 0)
        {
            await Task.WhenAll(Actors.Concat(Critics).Select(t => t.LoadState(keys.Checkpoint(start))));
        }
        else
        {
            await warmStart(Actors[0]);
            await Actors[0].Publish(keys.ReferenceWeights);
            await Task.WhenAll(Actors.Skip(1).Select(a => a.LoadWeights(keys.ReferenceWeights)));
        }
        await Publish(start);
    }

    public async Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch)
    {
        var actorStep = Step("actor", Actors, miniBatch);
        var criticStep = Critics.Length > 0 ? Step("critic", Critics, miniBatch) : null;
        // Both models' steps end before either's loss goes up: a critic step still applying its sum
        // after the job went back to its checkpoint would land on the restored critic (measured: the
        // replayed run's value loss differed from the run without a kill, now and then).
        await Task.WhenAll(criticStep is null ? [actorStep] : [actorStep, criticStep]);
        var (actor, norm, actorRebuilt) = await actorStep;
        var (critic, _, criticRebuilt) = criticStep is null ? (null, 0, 0) : await criticStep;
        return new TrainStep(actor, critic, norm, NoDevices, null, actorRebuilt + criticRebuilt);
    }

    /// <summary>
    /// The step over the parts' rows: each part's gradient shares are computed as it comes, on the weights before
    /// the step (nothing is applied until the last part), and weighted by the part's tokens; after the last, the
    /// sum over parts divided by the mini-batch's tokens is applied. Each replica's share of a part is divided by
    /// that part's tokens (the loss is a token mean, PolicyUpdate), so weighting by them gives the mini-batch's
    /// token mean: the gradient of all the rows at once, summed in another order.
    /// </summary>
    public async Task<TrainStep> Step(int iteration, int index, IAsyncEnumerable<TrainingRow[]> parts)
    {
        var actor = new PartSums(Actors.Length);
        var critic = Critics.Length > 0 ? new PartSums(Critics.Length) : null;
        var rows = new List<TrainingRow>();
        await foreach (var part in parts)
        {
            rows.AddRange(part);
            var tokens = part.Sum(r => (long)r.PolicyTokens);
            // Every term of the loss is masked to the trained tokens: a part without any adds nothing.
            if (tokens == 0) continue;
            // A replica given no row of this part is not called: it has nothing to add.
            Task<GradientShare> Gradients(ITrainerGrain trainer, TrainingRow[] share) =>
                share.Length == 0 ? Task.FromResult(new GradientShare([], TrainSums.Zero)) : trainer.Gradients(share, tokens);
            var split = MiniBatchPlan.BalancedShares(Tokens(part), Actors.Length);
            var actorShares = Shares("actor", Actors, part, split, RowTokens, Gradients);
            var criticShares = critic is null ? null : Shares("critic", Critics, part, split, RowTokens, Gradients);
            await Task.WhenAll(criticShares is null ? [actorShares] : [actorShares, criticShares]);
            actor.Add(await actorShares, tokens);
            if (critic is not null) critic.Add(await criticShares!, tokens);
        }
        var total = rows.Sum(r => (long)r.PolicyTokens);
        // Nothing to train: the one step over them all is refused as it would be (the trainers name why).
        if (total == 0) return await Step(iteration, index, [.. rows]);
        var actorApplied = Apply("actor", Actors, actor.Gradient(total), actor.ShareTokens);
        var criticApplied = critic is null ? null : Apply("critic", Critics, critic.Gradient(total), critic.ShareTokens);
        // As in a whole step: both models' steps end before either's loss goes up.
        await Task.WhenAll(criticApplied is null ? [actorApplied] : [actorApplied, criticApplied]);
        var (norm, actorRebuilt) = await actorApplied;
        var criticRebuilt = criticApplied is null ? 0 : (await criticApplied).Rebuilt;
        return new TrainStep(actor.Sums, critic?.Sums, norm, NoDevices, null, actor.Rebuilt + (critic?.Rebuilt ?? 0) + actorRebuilt + criticRebuilt);
    }

    /// <summary>
    /// A colocated step's mini-batch trained on the devices its generation has freed (rl.trainEarly): its rows cut into
    /// chunks balanced by tokens, each computed by the next replica whose device is free and which has applied every
    /// step before (<see cref="FreedDeviceTraining"/>); each chunk's gradient is over the mini-batch's tokens and the
    /// chunks are summed in their order, so the sum is the gradient of <see cref="Step(int, int, TrainingRow[])"/> summed
    /// in another order. A replica applies it at once where its device is free; a replica whose device still generates
    /// holds the weights it generates with, so it applies the sums in order once its device is free (the replicas apply
    /// the same sums in the same order, so they stay identical), before it computes anything more. The step returns once
    /// the free replicas have applied it; once the whole step is generated, once every replica has (one lost meanwhile is
    /// rebuilt from a survivor).
    /// </summary>
    public async Task<TrainStep> Step(int iteration, int index, TrainingRow[] miniBatch, FreedDevices freed)
    {
        var tokens = miniBatch.Sum(r => (long)r.PolicyTokens);
        if (tokens == 0)
        {
            // Nothing to train: refused as a step over the rows would be (the trainers name why).
            await CaughtUp(freed);
            return await Step(iteration, index, miniBatch);
        }
        var chunks = MiniBatchPlan.BalancedShares(Tokens(miniBatch), Math.Min(miniBatch.Length, Actors.Length * ChunksPerReplica));
        var actor = new ChunkSums(chunks.Length);
        var critic = Critics.Length > 0 ? new ChunkSums(chunks.Length) : null;
        var early = 0;
        async Task Chunk(int r, int c)
        {
            TrainingRow[] rows = [.. chunks[c].Select(k => miniBatch[k])];
            var before = !freed.AllGenerated.IsCompleted;
            // A chunk computed again after its replica's loss asks only the model it has no gradient of.
            var actorShare = actor.Has(c) ? null : Actors[r].Gradients(rows, tokens);
            var criticShare = critic is null || critic.Has(c) ? null : Critics[r].Gradients(rows, tokens);
            try
            {
                await Task.WhenAll(new[] { actorShare, criticShare }.OfType<Task<GradientShare>>());
            }
            finally
            {
                if (actorShare is { IsCompletedSuccessfully: true }) actor.Add(c, actorShare.Result);
                if (criticShare is { IsCompletedSuccessfully: true }) critic!.Add(c, criticShare.Result);
            }
            if (before) Interlocked.Add(ref early, rows.Length);
        }
        // A replica computes once its device is free and it has applied every step before this one.
        async Task Ready(int r)
        {
            await freed.Freed(r);
            if (await AppliedSoFar("actor", r) is null || (Critics.Length > 0 && await AppliedSoFar("critic", r) is null))
            {
                throw new SiloUnavailableException($"training replica {r} was lost with its silo while it applied the steps its device's generation held back");
            }
        }
        await FreedDeviceTraining.Run(Actors.Length, chunks.Length, Ready, Chunk, e => SiloLoss.Is(e) || NoFreeDeviceException.In(e), freed.Train);
        var actorNorms = Queue("actor", Actors, actor.Gradient, freed);
        var criticNorms = critic is null ? null : Queue("critic", Critics, critic.Gradient, freed);
        if (!freed.AllGenerated.IsCompleted)
        {
            // The tail still generates: the step is done once the free replicas have applied it.
            var free = Enumerable.Range(0, Actors.Length).Where(r => freed.Freed(r).IsCompleted).ToArray();
            var norms = await Task.WhenAll(free.Select(r => actorNorms[r]));
            if (criticNorms is not null) await Task.WhenAll(free.Select(r => criticNorms[r]));
            return new TrainStep(actor.Sums, critic?.Sums, norms.FirstOrDefault(n => n is not null) ?? 0, NoDevices, null, 0, early);
        }
        var (norm, rebuilt) = await CaughtUp(freed);
        return new TrainStep(actor.Sums, critic?.Sums, norm, NoDevices, null, rebuilt, early);
    }

    // With rl.trainEarly: each replica's optimizer steps in order, by model; each ends with its gradient norm, or null where the
    // replica was lost with its silo (it applies nothing more until it is rebuilt).
    private readonly Dictionary<string, Task<double?>[]> applied = [];

    private Task<double?> AppliedSoFar(string model, int replica) =>
        applied.TryGetValue(model, out var steps) && replica < steps.Length ? steps[replica] : Task.FromResult<double?>(0);

    /// <summary>Queues the sum on every replica of <paramref name="model"/>: each applies it after the steps before, once its device is free.</summary>
    private Task<double?>[] Queue(string model, ITrainerGrain[] replicas, float[] sum, FreedDevices freed)
    {
        var steps = applied.TryGetValue(model, out var before) && before.Length == replicas.Length ? before : [.. replicas.Select(_ => Task.FromResult<double?>(0))];
        for (var r = 0; r < replicas.Length; r++) steps[r] = After(steps[r], replicas[r], freed.Freed(r));
        applied[model] = steps;
        return [.. steps];

        async Task<double?> After(Task<double?> previous, ITrainerGrain replica, Task free)
        {
            await free;
            if (await previous is null) return null;
            try
            {
                return await replica.Apply(sum);
            }
            catch (Exception e) when (SiloLoss.Is(e) || NoFreeDeviceException.In(e))
            {
                return null;
            }
        }
    }

    /// <summary>
    /// Once the step is generated: every replica has applied every queued step, and one lost meanwhile is rebuilt from a
    /// survivor (which has applied them all); the last step's gradient norm and how many were rebuilt.
    /// </summary>
    private async Task<(double Norm, int Rebuilt)> CaughtUp(FreedDevices freed)
    {
        await freed.AllGenerated;
        var (norm, rebuilt) = (0.0, 0);
        foreach (var (model, replicas) in new[] { ("actor", Actors), ("critic", Critics) }.Where(m => m.Item2.Length > 0))
        {
            if (!applied.TryGetValue(model, out var steps)) continue;
            var norms = await Task.WhenAll(steps);
            if (model == "actor") norm = norms.FirstOrDefault(n => n is not null) ?? 0;
            var survivors = Enumerable.Range(0, norms.Length).Where(r => norms[r] is not null).ToArray();
            var lost = Enumerable.Range(0, norms.Length).Where(r => norms[r] is null).ToArray();
            if (lost.Length > 0 && survivors.Length == 0) throw new SiloUnavailableException($"every {model} replica was lost with its silo while applying a step");
            rebuilt += (await Task.WhenAll(lost.Select(r => Rebuilt(model, replicas, r, survivors)))).Count(p => p);
            applied.Remove(model);
        }
        return (norm, rebuilt);
    }

    /// <summary>An early step's sums: the chunks' gradients added in chunk order as each one's turn comes (a chunk done early waits for those before it), and their loss sums.</summary>
    private sealed class ChunkSums(int chunks)
    {
        private readonly Lock gate = new();
        private readonly GradientShare?[] pending = new GradientShare?[chunks];
        private readonly bool[] has = new bool[chunks];
        private int folded;

        public TrainSums Sums { get; private set; } = TrainSums.Zero;
        public float[] Gradient { get; private set; } = [];

        public bool Has(int chunk)
        {
            lock (gate) return has[chunk];
        }

        public void Add(int chunk, GradientShare share)
        {
            lock (gate)
            {
                if (has[chunk]) return;
                (has[chunk], pending[chunk]) = (true, share);
                for (; folded < chunks && has[folded]; folded++)
                {
                    var next = pending[folded]!;
                    pending[folded] = null;
                    Sums += next.Sums;
                    // An emulated replica's gradient is empty.
                    if (next.Gradient.Length == 0) continue;
                    if (Gradient.Length == 0) Gradient = new float[next.Gradient.Length];
                    for (var k = 0; k < Gradient.Length; k++) Gradient[k] += next.Gradient[k];
                }
            }
        }
    }

    /// <summary>A partwise step's sums so far: the replicas' gradients weighted by their part's tokens, loss sums, tokens per replica.</summary>
    private sealed class PartSums(int replicas)
    {
        private double[] weighted = [];

        public TrainSums Sums { get; private set; } = TrainSums.Zero;
        public long[] ShareTokens { get; } = new long[replicas];
        public int Rebuilt { get; private set; }

        public void Add((GradientShare[] Shares, long[] ShareTokens, int Rebuilt) part, long tokens)
        {
            foreach (var share in part.Shares)
            {
                Sums += share.Sums;
                // A replica not called for this part (or an emulated one) holds no gradient.
                if (share.Gradient.Length == 0) continue;
                if (weighted.Length == 0) weighted = new double[share.Gradient.Length];
                for (var k = 0; k < weighted.Length; k++) weighted[k] += (double)share.Gradient[k] * tokens;
            }
            for (var r = 0; r < ShareTokens.Length; r++) ShareTokens[r] += part.ShareTokens[r];
            Rebuilt += part.Rebuilt;
        }

        public float[] Gradient(long total) => [.. weighted.Select(g => (float)(g / total))];
    }

    /// <summary>Each actor replica computes its share (the same split as a step's); the shares of replicas lost with their silo are spread over the others (they are identical).</summary>
    public async Task<float[][]> ProximalLogProbs(int iteration, int index, TrainingRow[] rows)
    {
        var shares = MiniBatchPlan.BalancedShares(Tokens(rows), Actors.Length);
        Task<float[][]> Share(int r, int on) => Actors[on].LogProbs([.. shares[r].Select(k => rows[k])]);
        var answers = await Outcomes(Actors.Length, r => Share(r, r));
        var lost = Lost(answers);
        if (lost.Length > 0)
        {
            var order = LostShares.Order(lost, Survivors(answers), ShareTokens(rows, shares));
            await Task.WhenAll(lost.Select(async (r, i) => answers[r] = (await OnSurvivor(r, order[i], Share, answers[r].Error!), null)));
        }
        var result = new float[rows.Length][];
        for (var r = 0; r < shares.Length; r++)
        {
            for (var k = 0; k < shares[r].Length; k++) result[shares[r][k]] = answers[r].Value![k];
        }
        return result;
    }

    public async Task Publish(int version)
    {
        await AnyReplica(Actors, a => a.Publish(keys.ActorWeights(version)));
        if (Critics.Length > 0) await AnyReplica(Critics, c => c.Publish(keys.CriticWeights(version)));
    }

    public async Task SaveState(string prefix)
    {
        await AnyReplica(Actors, a => a.SaveState(prefix));
        if (Critics.Length > 0) await AnyReplica(Critics, c => c.SaveState(prefix));
    }

    /// <summary>The replicas are identical: the first one alive does it (a lost one is rebuilt at the next step).</summary>
    private static async Task AnyReplica(ITrainerGrain[] replicas, Func<ITrainerGrain, Task> action)
    {
        for (var r = 0; ; r++)
        {
            try
            {
                await action(replicas[r]);
                return;
            }
            catch (Exception e) when ((SiloLoss.Is(e) || NoFreeDeviceException.In(e)) && r < replicas.Length - 1)
            {
            }
        }
    }

    private static long RowTokens(TrainingRow row) => (long)row.PromptTokens + row.ResponseTokens;

    private static long[] Tokens(TrainingRow[] rows) => [.. rows.Select(RowTokens)];

    private static long[] ShareTokens(TrainingRow[] rows, int[][] shares) => [.. shares.Select(share => share.Sum(k => RowTokens(rows[k])))];

    /// <summary>Each replica's usage; a replica lost with its silo has none (it is rebuilt at the next step).</summary>
    public async Task<DeviceUsage[]> TakeUsage()
    {
        ITrainerGrain[] all = [.. Actors, .. Critics];
        var usages = await Outcomes(all.Length, r => all[r].TakeUsage());
        return [.. usages.Where(u => u.Error is null).Select(u => u.Value!)];
    }

    public Task Release() => Task.WhenAll(actorPool.Take(reached).Concat(criticPool.Take(reached)).Select(SiloLoss.Vacate));

    /// <summary>The replicas running now (of each trained model).</summary>
    public int Active => active;

    /// <summary>The trainer grains that hold a device (or may) but are not among the active replicas: what a job's run begins by vacating.</summary>
    public IEnumerable<ITrainerGrain> Inactive => actorPool.Skip(active).Concat(criticPool.Skip(active));

    /// <summary>
    /// One replica more of each trained model, set up and given an active replica's state through the store
    /// (an emulated one: set up); false, with none added, where no device is free for it.
    /// </summary>
    public async Task<bool> Grow()
    {
        if (active == actorPool.Length) throw new InvalidOperationException($"the job already runs its most training replicas ({active})");
        var added = await Rebuilt("actor", actorPool, active, [.. Enumerable.Range(0, active)]);
        if (added && criticPool.Length > 0 && !await Rebuilt("critic", criticPool, active, [.. Enumerable.Range(0, active)]))
        {
            await SiloLoss.Vacate(actorPool[active]);
            added = false;
        }
        if (!added) return false;
        active++;
        reached = Math.Max(reached, active);
        return true;
    }

    /// <summary>The last replica of each trained model leaves (vacated: its device goes back); returns their grains' keys.</summary>
    public async Task<string[]> Shrink()
    {
        if (active == 1) throw new InvalidOperationException("the job's last training replica cannot leave");
        active--;
        await SiloLoss.Vacate(actorPool[active]);
        if (criticPool.Length > 0) await SiloLoss.Vacate(criticPool[active]);
        return [keys.Trainer("actor", active), .. criticPool.Length > 0 ? new[] { keys.Trainer("critic", active) } : []];
    }

    /// <summary>
    /// One optimizer step of a DPO job's policy over a batch of preference pairs, split across the actor
    /// replicas as an RL step's mini-batch is (see <see cref="Step{TRow, TShare}"/>), a pair's two responses on one replica.
    /// </summary>
    public async Task<PreferenceTrainStep> PreferenceStep(int iteration, int index, PreferenceRow[] batch, PreferenceLossKind loss, double beta)
    {
        var (shares, norm, rebuilt) = await Step("actor", Actors, batch, r => r.Tokens,
            (trainer, share) => trainer.PreferenceGradients(new PreferenceBatch(share, batch.Length, loss, beta)), s => s.Gradient);
        return new PreferenceTrainStep(shares.Select(s => s.Sums).Aggregate(PairSums.Zero, (a, b) => a + b), norm, rebuilt, NoDevices, null);
    }

    /// <summary>A DPO job's sums over pairs (held-out ones) by the first actor replica alive: the replicas are identical.</summary>
    public async Task<PairSums> PreferenceSums(PreferenceRow[] pairs, PreferenceLossKind loss, double beta)
    {
        var sums = PairSums.Zero;
        await AnyReplica(Actors, async a => sums = await a.PreferenceSums(new PreferenceBatch(pairs, Math.Max(1, pairs.Length), loss, beta)));
        return sums;
    }

    private async Task<(TrainSums Sums, double GradNorm, int Rebuilt)> Step(string model, ITrainerGrain[] replicas, TrainingRow[] miniBatch)
    {
        var tokens = miniBatch.Sum(r => r.PolicyTokens);
        var (shares, norm, rebuilt) = await Step(model, replicas, miniBatch, RowTokens, (trainer, share) => trainer.Gradients(share, tokens), s => s.Gradient);
        return (shares.Select(s => s.Sums).Aggregate((a, b) => a + b), norm, rebuilt);
    }

    /// <summary>
    /// One optimizer step of a model over a mini-batch split across its replicas by tokens: each computes the
    /// gradient of its share (divided by the mini-batch's tokens or pairs), the shares are summed in replica
    /// order, and every replica applies the sum (<see cref="Shares"/>, <see cref="Apply"/>).
    /// </summary>
    private async Task<(TShare[] Shares, double GradNorm, int Rebuilt)> Step<TRow, TShare>(string model, ITrainerGrain[] replicas, TRow[] miniBatch,
        Func<TRow, long> tokensOf, Func<ITrainerGrain, TRow[], Task<TShare>> compute, Func<TShare, float[]> gradientOf)
    {
        var split = MiniBatchPlan.BalancedShares([.. miniBatch.Select(tokensOf)], replicas.Length);
        var (shares, shareTokens, rebuilt) = await Shares(model, replicas, miniBatch, split, tokensOf, compute);
        var sum = new float[gradientOf(shares[0]).Length];
        foreach (var share in shares)
        {
            var gradient = gradientOf(share);
            for (var k = 0; k < sum.Length; k++) sum[k] += gradient[k];
        }
        var (norm, rebuiltApplying) = await Apply(model, replicas, sum, shareTokens);
        return (shares, norm, rebuilt + rebuiltApplying);
    }

    /// <summary>
    /// Each replica's share of <paramref name="rows"/> (<paramref name="split"/>: positions by replica) computed on it. A replica lost with its
    /// silo is rebuilt from a survivor, which holds the same state (no step is applied while shares are computed);
    /// with no device free for it yet, a survivor computes its share (the same numbers: same state, same rows) and
    /// the step goes on without it until a device frees (a replacement silo joins). With no survivor the loss goes
    /// up and the job replays from its checkpoint.
    /// </summary>
    private async Task<(TShare[] Shares, long[] ShareTokens, int Rebuilt)> Shares<TRow, TShare>(string model, ITrainerGrain[] replicas, TRow[] rows,
        int[][] split, Func<TRow, long> tokensOf, Func<ITrainerGrain, TRow[], Task<TShare>> compute)
    {
        var rebuilt = 0;
        long[] shareTokens = [.. split.Select(share => share.Sum(k => tokensOf(rows[k])))];
        Task<TShare> Share(int r, int on) => compute(replicas[on], [.. split[r].Select(k => rows[k])]);
        var gradients = await Outcomes(replicas.Length, r => Share(r, r));
        var lost = Lost(gradients);
        if (lost.Length > 0)
        {
            // Every lost replica at once: rebuilt where a device is free (then it computes its own share),
            // else its share computed by the survivor it is given, the lost shares spread over them.
            var order = Rescuers(lost, gradients, shareTokens);
            var placed = await Task.WhenAll(lost.Select((r, i) => Rebuilt(model, replicas, r, order[i])));
            rebuilt += placed.Count(p => p);
            await Task.WhenAll(lost.Select(async (r, i) =>
            {
                if (placed[i])
                {
                    var own = (await Outcomes(1, _ => Share(r, r)))[0];
                    if (own.Error is null)
                    {
                        gradients[r] = own;
                        return;
                    }
                }
                // Any survivor computes the share: same state, same rows, same numbers. Kills do not wait
                // for each other, so a survivor may be gone by now too: the next one is asked.
                gradients[r] = (await OnSurvivor(r, order[i], Share, gradients[r].Error!), null);
            }));
        }
        return ([.. gradients.Select(g => g.Value!)], shareTokens, rebuilt);
    }

    /// <summary>
    /// Every replica applies the summed gradient; returns the norm before clipping. A replica lost while applying
    /// (or left out since) is rebuilt from a survivor, which has applied the same sum, so its state is the step's end.
    /// </summary>
    private async Task<(double GradNorm, int Rebuilt)> Apply(string model, ITrainerGrain[] replicas, float[] sum, long[] shareTokens)
    {
        var norms = await Outcomes(replicas.Length, r => replicas[r].Apply(sum));
        var lostApplying = Lost(norms);
        var rebuilt = 0;
        if (lostApplying.Length > 0)
        {
            var from = Rescuers(lostApplying, norms, shareTokens);
            rebuilt += (await Task.WhenAll(lostApplying.Select((r, i) => Rebuilt(model, replicas, r, from[i])))).Count(p => p);
        }
        // An emulated step's norm is 0 on every replica, rebuilt ones included.
        return (norms.Where(n => n.Error is null).Select(n => n.Value).FirstOrDefault(), rebuilt);
    }

    /// <summary>
    /// For each lost replica, the survivors that hold its state and can compute its share (see
    /// <see cref="LostShares"/>). An emulated replica holds none (its engine is the cost model): with every
    /// one lost, each is set up again from nothing and computes its own share, where a real job, with no
    /// survivor, goes back to its checkpoint (measured: a training machine's loss in an hour's soak that every
    /// replica failed, those of the surviving machine included, sent the emulated job back to its start).
    /// </summary>
    private int[][] Rescuers<T>(int[] lost, (T? Value, Exception? Error)[] outcomes, long[] shareTokens) =>
        emulated is not null && lost.Length == outcomes.Length ? [.. lost.Select(_ => Array.Empty<int>())] : LostShares.Order(lost, Survivors(outcomes), shareTokens);

    /// <summary>Lost replica <paramref name="lost"/>'s share computed by the first of <paramref name="survivors"/> that answers; with none, the loss goes up (the job replays from its checkpoint).</summary>
    private static async Task<T> OnSurvivor<T>(int lost, IReadOnlyList<int> survivors, Func<int, int, Task<T>> share, Exception loss)
    {
        foreach (var survivor in survivors)
        {
            var (value, error) = (await Outcomes(1, _ => share(lost, survivor)))[0];
            if (error is null) return value!;
        }
        throw loss;
    }

    /// <summary>Each replica's answer, or the silo's loss that stopped it (any other failure is the step's own and goes up).</summary>
    private static async Task<(T? Value, Exception? Error)[]> Outcomes<T>(int replicas, Func<int, Task<T>> call) =>
        await Task.WhenAll(Enumerable.Range(0, replicas).Select(async r =>
        {
            try
            {
                return (await call(r), (Exception?)null);
            }
            // A replica whose silo was lost: its call failed, or its new activation found no device free (yet).
            catch (Exception e) when (SiloLoss.Is(e) || NoFreeDeviceException.In(e))
            {
                return (default(T), e);
            }
        }));

    private static int[] Lost<T>((T? Value, Exception? Error)[] outcomes) => [.. outcomes.Select((o, r) => (o, r)).Where(x => x.o.Error is not null).Select(x => x.r)];

    /// <summary>The replicas that answered; with none, the first loss goes up (the job replays from its checkpoint).</summary>
    private static List<int> Survivors<T>((T? Value, Exception? Error)[] outcomes)
    {
        var survivors = outcomes.Select((o, r) => (o, r)).Where(x => x.o.Error is null).Select(x => x.r).ToList();
        return survivors.Count > 0 ? survivors : throw outcomes.First(o => o.Error is not null).Error!;
    }

    /// <summary>
    /// A lost replica's new activation, set up and given a survivor's weights and optimizer state through
    /// the store; false where no device is free for it yet, or the survivors went before one could hand
    /// its state over (it is tried again at the next step). A replica set up but not given the state is
    /// vacated: its next call finds it not set up, never with other weights.
    /// </summary>
    private async Task<bool> Rebuilt(string model, ITrainerGrain[] replicas, int lost, IReadOnlyList<int> survivors)
    {
        var setup = TrainerSetups.For(job, critic: model == "critic", emulated);
        var copy = keys.ReplicaCopy(model, lost);
        try
        {
            await SiloLoss.Retry(() => replicas[lost].Setup(setup));
            if (emulated is not null) return true;
            foreach (var from in survivors)
            {
                try
                {
                    await replicas[from].SaveState(copy);
                    await replicas[lost].LoadState(copy);
                    return true;
                }
                catch (Exception e) when (SiloLoss.Is(e) || NoFreeDeviceException.In(e))
                {
                }
            }
        }
        catch (Exception e) when (SiloLoss.Is(e) || NoFreeDeviceException.In(e))
        {
        }
        await SiloLoss.Vacate(replicas[lost]);
        return false;
    }

    /// <summary>
    /// A call that places a trainer, tried again while a silo's loss or a lack of free devices stops it, for
    /// as long as a lost silo takes to be replaced (<see cref="SiloLoss.RetryFor"/>).
    /// </summary>
    private static async Task Placed(Func<Task> call)
    {
        var deadline = DateTime.UtcNow + SiloLoss.RetryFor;
        while (true)
        {
            try
            {
                await SiloLoss.Retry(call);
                return;
            }
            catch (Exception e) when (NoFreeDeviceException.In(e) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(SiloLoss.RetryDelay);
            }
        }
    }

    private static ITrainerGrain[] Replicas(JobSpec job, IGrainFactory grains, string model, int count) =>
        [.. Enumerable.Range(0, count).Select(r => grains.GetGrain<ITrainerGrain>(JobKeys.For(job).Trainer(model, r)))];
}
