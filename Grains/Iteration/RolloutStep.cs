using System.Diagnostics;
using System.Threading.Channels;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Iteration.Policies;

namespace Grains.Iteration;

public sealed partial class RolloutScheduler
{
    /// <summary>
    /// One step's rollout: where its samples are, the policies' actions carried out, and the audit that
    /// finds samples lost with a worker's silo and sends them again.
    /// </summary>
    private sealed class Step(RolloutScheduler owner, SampleStart[] starts, WeightsRef weights, ISampleGrain[] samples, StepPolicies policies,
        IReadOnlyList<(int Index, IGenerationWorkerGrain Grain)> workers, ChannelWriter<int[]> scoredGroups, RolloutTally tally, FreedDevices? freed, SampleRecord?[] scored)
    {
        private readonly Dictionary<string, int[]> members = starts.Select((s, k) => (s.Group, k)).GroupBy(p => p.Group).ToDictionary(g => g.Key, g => g.Select(p => p.k).ToArray());
        private readonly Dictionary<string, int> unscored = starts.GroupBy(s => s.Group).ToDictionary(g => g.Key, g => g.Count());
        private readonly Dictionary<string, int> index = starts.Select((s, k) => (s.Id, k)).ToDictionary();
        private readonly Stopwatch clock = Stopwatch.StartNew();
        // Samples a worker has been given (its Submit returned, or failed with its silo): what the audit checks.
        private readonly HashSet<int> submitted = [];
        // Workers lost with no device free to place them again: their samples went to the others, until a device frees.
        private readonly HashSet<int> gone = [];
        // Of those, workers stopped by weights that failed to load: they do not come back.
        private readonly HashSet<int> stopped = [];
        // The latest tokens so far a worker told of each sample being generated (partial rollouts): a lost one goes on from them.
        private readonly Dictionary<int, GenerationWork> progress = [];
        // A colocated job's samples to score, waiting for a device its worker has left free, and where each is being scored:
        // a device takes up to its share of the step at a time.
        private readonly Queue<int> toScore = new();
        private readonly Dictionary<int, int> scoringOn = [];
        private readonly FreeDeviceScoring freeDevices = new((starts.Length + workers.Count - 1) / workers.Count);

        private readonly Dictionary<int, int> local = workers.Select((w, k) => (w.Index, k)).ToDictionary();
        // The dispatches of the first actions carried, until Sent is asked for.
        private List<Task>? firstSends = [];

        public RolloutState State { get; } = new(starts.Length, workers.Count);

        /// <summary>The job's index of this step's worker <paramref name="worker"/>.</summary>
        public int JobIndex(int worker) => workers[worker].Index;

        /// <summary>The samples of this step on the job's worker <paramref name="jobIndex"/> not yet generated; none if it is not one of this step's.</summary>
        public int LoadOf(int jobIndex) => local.TryGetValue(jobIndex, out var w) ? State.Load(w) : 0;
        public WeightsRef Weights => weights;
        public TaskCompletionSource Trained { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>A tail-batching round's end carried out (its discarded samples off their workers and out of the ledger); done at once without one.</summary>
        public Task<SampleRecord[]> RoundEnded { get; private set; } = Task.FromResult<SampleRecord[]>([]);

        /// <summary>Done once the dispatches carried so far are with their workers (their samples told, each worker's Submit returned or failed); asked once, after the first actions.</summary>
        public Task Sent()
        {
            var sends = firstSends ?? [];
            firstSends = null;
            return Task.WhenAll(sends);
        }

        /// <summary>Sample <paramref name="k"/>'s record as its scored report brought it; null if none came.</summary>
        public SampleRecord? ScoredRecord(int k) => scored[k];

        public void Reached(string sampleId, SampleStage stage, SampleRecord? record)
        {
            if (!index.TryGetValue(sampleId, out var k)) return;
            if (record is { Stage: >= SampleStage.Scored, Scores: not null }) scored[k] = record;
            State.Clock = clock.Elapsed.TotalSeconds;
            if (stage >= SampleStage.Generated && State.Generated(k))
            {
                progress.Remove(k);
                Carry(policies.Dispatch.Generated(State, k, State.WorkerOf(k)));
                Carry(policies.Stage.Generated(State, k));
                if (policies.Migration is { } migration) Carry(migration.Generated(State));
                ScoreOnFreeDevices();
                NoteFreed();
            }
            if (stage >= SampleStage.Scored && State.Scored(k))
            {
                if (scoringOn.Remove(k, out var device))
                {
                    freeDevices.Scored(device);
                    ScoreOnFreeDevices();
                    NoteFreed();
                }
                if (--unscored[starts[k].Group] == 0) scoredGroups.TryWrite(members[starts[k].Group]);
                Carry(policies.Stage.Scored(State, k));
            }
        }

        /// <summary>Keeps each of this step's samples' latest tokens so far, while it is not generated.</summary>
        public void Progressed(GenerationWork[] reported)
        {
            foreach (var work in reported)
            {
                if (!index.TryGetValue(work.SampleId, out var k) || State.IsGenerated(k)) continue;
                if (!progress.TryGetValue(k, out var kept) || work.GeneratedTokens > kept.GeneratedTokens) progress[k] = work;
            }
        }

        public IEnumerable<GeneratingSample> Generating() => progress.Select(p => new GeneratingSample(p.Value.SampleId, p.Value.GeneratedTokens));

        /// <summary>Workers that were behind and no longer are get this step's samples, as the dispatch policy says.</summary>
        public void CatchUp(Func<int, bool> behind)
        {
            for (var w = 0; w < workers.Count; w++)
            {
                if (!State.Behind(w) || behind(w) || stopped.Contains(w)) continue;
                State.SetBehind(w, false);
                Carry(policies.Dispatch.CaughtUp(State, w));
            }
        }

        /// <summary>
        /// Carries out the policies' actions. With <paramref name="workersAtOnce"/>, at most that many workers'
        /// dispatches are under way together (a step's first deal): the first workers start generating after
        /// their own samples' calls instead of after the whole step's (at 1,024 workers, a quarter of a second).
        /// </summary>
        public void Carry(IReadOnlyList<RolloutAction> actions, int? workersAtOnce = null)
        {
            var gate = workersAtOnce is { } n ? new SemaphoreSlim(n) : null;
            // First: a round's end marks its discarded samples in the state at once, so that nothing below sends them anywhere.
            foreach (var end in actions.OfType<EndRound>())
            {
                RoundEnded = EndRound(end.Discard);
                Watch(RoundEnded);
            }
            // A worker that stopped or left the pool takes nothing more: what a policy deals it goes to the least loaded other.
            foreach (var group in actions.OfType<DispatchTo>().Where(d => !State.IsDiscarded(d.Sample))
                .Select(d => stopped.Contains(d.Worker) ? d with { Worker = Others().MinBy(State.Load) } : d).GroupBy(d => d.Worker))
            {
                foreach (var d in group) State.Dispatched(d.Sample, d.Worker);
                var (worker, batch) = (group.Key, group.Select(d => d.Sample).ToArray());
                var sending = gate is null ? Dispatch(worker, batch) : Gated(gate, () => Dispatch(worker, batch));
                firstSends?.Add(sending);
                Watch(sending);
            }
            foreach (var score in actions.OfType<ScoreSample>()) Score(score.Sample);
            foreach (var gather in actions.OfType<GatherTail>()) Watch(Gather(gather.Workers));
            if (actions.OfType<StartTraining>().Any()) Trained.TrySetResult();
        }

        private static async Task Gated(SemaphoreSlim gate, Func<Task> send)
        {
            await gate.WaitAsync();
            try
            {
                await send();
            }
            finally
            {
                gate.Release();
            }
        }

        /// <summary>A sample to score: at once, or in a colocated job once a device's worker has nothing of the step left to generate.</summary>
        private void Score(int k)
        {
            if (!owner.Keys.Colocated)
            {
                Watch(SiloLoss.Retry(samples[k].Score));
                return;
            }
            toScore.Enqueue(k);
            ScoreOnFreeDevices();
        }

        /// <summary>A device stopped training early: the samples waiting to be scored may go there.</summary>
        public void ScoreWaiting()
        {
            ScoreOnFreeDevices();
            NoteFreed();
        }

        /// <summary>
        /// The samples waiting to be scored go to the devices free now, in turn (the last generated sample frees every one),
        /// but not to one training a mini-batch early (each turn would cost it two role switches).
        /// </summary>
        private void ScoreOnFreeDevices()
        {
            bool Usable(int x) => !gone.Contains(x) && freed?.Training(workers[x].Index) != true;
            // The device kept to score the step's last samples first: it is in the scoring role.
            while (toScore.Count > 0 && (freeDevices.Next(State, x => Usable(x) && workers[x].Index == freed?.Scorer) ?? freeDevices.Next(State, Usable)) is { } w)
            {
                var (k, device) = (toScore.Dequeue(), workers[w].Index);
                // Discarded while it waited: the device's room goes back.
                if (State.IsDiscarded(k))
                {
                    freeDevices.Scored(w);
                    continue;
                }
                scoringOn[k] = w;
                Watch(SiloLoss.Retry(() => samples[k].ScoreOn(device)));
            }
        }

        /// <summary>
        /// Finds the samples lost with a worker's silo and sends them again; catches up on reports lost with a
        /// sample's silo. Every worker is asked at once, and a lost machine's workers are dealt with together:
        /// one after the other, a machine of 16 took the audit seconds of wall time (minutes of an emulated
        /// job's time) before its last worker's samples were sent again.
        /// </summary>
        public async Task Audit()
        {
            await Rejoin();
            var found = await Task.WhenAll(submitted.Where(k => !State.IsGenerated(k) && !State.IsDiscarded(k)).GroupBy(State.WorkerOf).ToList().Select(LostOn));
            var lost = found.Where(f => f.Lost.Length > 0).ToList();
            if (lost.Count == 0) return;
            foreach (var (_, samples) in lost) submitted.ExceptWith(samples);
            var revived = await Task.WhenAll(lost.Select(f => Revived(f.Worker)));
            var sends = new List<Task>();
            var moved = new List<int>();
            for (var i = 0; i < lost.Count; i++)
            {
                if (revived[i] is { } worker) sends.Add(Dispatch(worker, lost[i].Lost));
                else moved.AddRange(lost[i].Lost);
            }
            // No device for a lost worker: each sample goes to the least loaded other worker in turn
            // (counting the samples it holds of this step and older ones, which it admits first). All to
            // one (measured) queued them behind its batch, whose KV cache has room for only a few long
            // responses, and the step waited for them one after the other.
            foreach (var k in moved) State.Moved(k, Others().MinBy(w => owner.LoadAhead(this, w)));
            sends.AddRange(moved.GroupBy(State.WorkerOf).Select(group => Dispatch(group.Key, [.. group])));
            await Task.WhenAll(sends);
        }

        /// <summary>
        /// The samples sent to a worker that it no longer holds and that are not generated: lost with its
        /// silo (those found generated, their reports lost, are caught up on). A worker that did not answer
        /// in time is asked again at the next audit: only a lost silo or a new activation means its samples
        /// are gone (re-sending the rest would change its batches).
        /// </summary>
        private async Task<(int Worker, int[] Lost)> LostOn(IGrouping<int, int> worker)
        {
            if (await Held(worker.Key) is not { } held) return (worker.Key, []);
            var missing = worker.Where(k => !held.Contains(starts[k].Id)).ToArray();
            if (missing.Length == 0) return (worker.Key, []);
            var stages = await Task.WhenAll(missing.Select(k => SiloLoss.Retry(() => samples[k].Restart(starts[k]))));
            var lost = new List<int>();
            for (var m = 0; m < missing.Length; m++)
            {
                if (stages[m] >= SampleStage.Generated) Reached(starts[missing[m]].Id, stages[m], null);
                else lost.Add(missing[m]);
            }
            return (worker.Key, [.. lost]);
        }

        /// <summary>
        /// Workers lost with no device free for them try again: once a device is free (a replacement silo
        /// joined, another job gave one back), each is placed again and takes samples as the dispatch
        /// policy deals a worker that caught up. A worker stopped by weights that failed to load stays out.
        /// </summary>
        private async Task Rejoin()
        {
            var back = new List<int>();
            foreach (var worker in gone.Where(w => !stopped.Contains(w)).ToList())
            {
                try
                {
                    await owner.Revive(workers[worker].Index);
                }
                catch (Exception e) when (Unavailable(e) || SiloLoss.Is(e))
                {
                    continue;
                }
                gone.Remove(worker);
                back.Add(worker);
                Carry(policies.Dispatch.CaughtUp(State, worker));
            }
            if (back.Count > 0) await Rebalance(back);
        }

        /// <summary>
        /// The job's worker <paramref name="jobIndex"/> leaves the pool: out of this step for good (never
        /// revived, dealt nothing), and its samples not yet generated taken off it with their tokens so far and
        /// sent to the least loaded others. Returns how many moved.
        /// </summary>
        public async Task<int> Retire(int jobIndex)
        {
            if (!local.TryGetValue(jobIndex, out var w) || stopped.Contains(w)) return 0;
            if (Others().Except([w]).ToArray() is { Length: 0 }) throw new InvalidOperationException($"generation worker {owner.Keys.Worker(jobIndex)} is the step's last and cannot leave");
            gone.Add(w);
            stopped.Add(w);
            var released = await ReleaseFrom(w, int.MaxValue);
            tally.Moved(released.Length);
            await Relocate([.. released], _ => Others().MinBy(o => owner.LoadAhead(this, o)));
            return released.Length;
        }

        /// <summary>
        /// Workers back after a loss take samples of this step from the others, up to an even share each:
        /// queued ones first, then the furthest along with their tokens so far (see
        /// <see cref="IGenerationWorkerGrain.Release"/>). The dispatch policy deals them only undispatched
        /// samples, and a step that dispatched all at its start (an asynchronous wave) would leave them idle
        /// while the others, grown by the lost worker's samples, hold the step back.
        /// </summary>
        private async Task Rebalance(List<int> back)
        {
            var share = (State.Samples - State.GeneratedCount + Others().Length - 1) / Others().Length;
            var released = new List<GenerationWork>();
            foreach (var w in Others().Except(back).Where(w => State.Load(w) > share).ToList()) released.AddRange(await ReleaseFrom(w, State.Load(w) - share));
            tally.Took(released.Count);
            await Relocate(released, _ => back.MinBy(State.Load));
        }

        /// <summary>
        /// This step's samples with a worker and not yet generated: each one's index, its worker's index in the job,
        /// and its context as last told (the prompt and the tokens so far its worker reported; a sample not yet
        /// reported counts its prompt).
        /// </summary>
        public IEnumerable<(int Sample, int Worker, int Context)> Holding() =>
            submitted.Where(k => !State.IsGenerated(k) && !State.IsDiscarded(k) && !gone.Contains(State.WorkerOf(k)))
                .Select(k => (k, JobIndex(State.WorkerOf(k)), starts[k].PromptTokens + (progress.TryGetValue(k, out var p) ? p.GeneratedTokens : 0)));

        /// <summary>
        /// Moves samples between this step's workers (by the job's worker index) with their tokens so far, and
        /// their KV caches where sending one is sooner than a prefill; a target not among the step's workers, or
        /// lost, takes none. Returns how many moved.
        /// </summary>
        public async Task<int> Move(IReadOnlyList<(int Sample, int ToWorker)> moves)
        {
            var to = moves.Where(m => local.TryGetValue(m.ToWorker, out var w) && !gone.Contains(w) && State.WorkerOf(m.Sample) != w)
                .ToDictionary(m => starts[m.Sample].Id, m => local[m.ToWorker]);
            var from = moves.Where(m => to.ContainsKey(starts[m.Sample].Id)).GroupBy(m => State.WorkerOf(m.Sample));
            var released = (await Task.WhenAll(from.Select(g => ReleaseFrom(g.Key, g.Count(), MigrationMove.Auto, g.Select(m => m.Sample).ToHashSet()))))
                .SelectMany(r => r).ToList();
            tally.Moved(released.Count);
            await Relocate(released, work => to[work.SampleId]);
            return released.Count;
        }

        /// <summary>
        /// Long-tail migration: the step's samples not yet generated are taken off every worker but
        /// <paramref name="targets"/> (queued ones as they are, running ones with their tokens so far) and
        /// sent to the target holding the fewest; the workers left without any of them are free for newer steps.
        /// </summary>
        private async Task Gather(int[] targets)
        {
            var from = Others().Except(targets).Where(w => State.Load(w) > 0).ToList();
            var released = (await Task.WhenAll(from.Select(w => ReleaseFrom(w, State.Load(w))))).SelectMany(r => r).ToList();
            tally.Moved(released.Count);
            // A target lost meanwhile (its samples are the audit's) takes none: the others do.
            var alive = targets.Except(gone).ToArray() is { Length: > 0 } kept ? kept : Others();
            await Relocate(released, _ => alive.MinBy(State.Load));
            owner.CatchUpAll();
            ScoreOnFreeDevices();
            NoteFreed();
        }

        /// <summary>Tells training on freed devices (rl.trainEarly) which devices are done generating and scoring the step's samples.</summary>
        public void NoteFreed() => freed?.Note(State, JobIndex, toScore.Count > 0, freeDevices.Holds);

        /// <summary>
        /// A tail-batching round's end: the samples it discards are out of the step at once (the state no longer
        /// counts them as their workers' load, so colocated devices they held are free for scoring), those still
        /// generating are taken off their workers (their tokens so far dropped), and each sample grain records
        /// why it leaves untrained. Returns their records, for the step's ledger.
        /// </summary>
        private async Task<SampleRecord[]> EndRound(int[] discard)
        {
            foreach (var k in discard)
            {
                State.Discarded(k);
                // One being scored frees its device's room now: a discarded sample's scoring may never report.
                if (scoringOn.Remove(k, out var device)) freeDevices.Scored(device);
            }
            ScoreOnFreeDevices();
            var holding = submitted.Where(k => State.IsDiscarded(k) && !State.IsGenerated(k)).Select(State.WorkerOf).Distinct().Where(w => !gone.Contains(w)).ToList();
            await Task.WhenAll(holding.Select(w => ReleaseFrom(w, int.MaxValue, MigrationMove.Prefill)));
            return await Task.WhenAll(discard.Select(k => SiloLoss.Retry(() => samples[k].Discard(RoundEndedReason))));
        }

        /// <summary>What a discarded sample's record says.</summary>
        public const string RoundEndedReason = "tail batching: its round had its groups first";

        /// <summary>
        /// Up to <paramref name="most"/> of this step's samples a worker was given and has not generated, taken
        /// out of it; none if it was lost meanwhile. While they move they are out of the audit's sight (the
        /// worker no longer holds them and the next does not yet): a gather runs beside the audits, and one
        /// would find them on neither and send them again. <see cref="Dispatch"/> puts them back in it.
        /// </summary>
        private async Task<GenerationWork[]> ReleaseFrom(int worker, int most, MigrationMove? move = null, IReadOnlySet<int>? only = null)
        {
            int[] held = [.. submitted.Where(k => State.WorkerOf(k) == worker && !State.IsGenerated(k) && (only is null || only.Contains(k)))];
            submitted.ExceptWith(held);
            GenerationWork[] released = [];
            try
            {
                // Without a migration section samples move as they always did: prefilled again where they land.
                released = await workers[worker].Grain.Release([.. held.Select(k => starts[k].Id)], most, move ?? policies.Migration?.Move ?? MigrationMove.Prefill).WaitAsync(AnswerTimeout);
            }
            catch (Exception e) when (SiloLoss.Is(e) || Unavailable(e))
            {
                // Lost meanwhile: the audit finds its samples.
            }
            finally
            {
                submitted.UnionWith(held.Except(released.Select(w => index[w.SampleId])));
            }
            return released;
        }

        /// <summary>Released samples sent on, each to the worker <paramref name="to"/> names at its turn, from where they were.</summary>
        private async Task Relocate(List<GenerationWork> released, Func<GenerationWork, int> to)
        {
            tally.CachesMoved(released.Count(w => w.Cache is not null));
            await Task.WhenAll(released.Select(work => SiloLoss.Retry(samples[index[work.SampleId]].Requeued)));
            foreach (var work in released) State.Moved(index[work.SampleId], to(work));
            await Task.WhenAll(released.GroupBy(work => State.WorkerOf(index[work.SampleId]))
                .Select(group => Dispatch(group.Key, [.. group.Select(work => index[work.SampleId])], [.. group])));
        }

        /// <summary>
        /// What a worker holds; a worker whose silo is gone holds nothing (its next call re-activates it
        /// elsewhere, where it answers with nothing); null when it could not be asked this time.
        /// </summary>
        private async Task<HashSet<string>?> Held(int worker)
        {
            try
            {
                return [.. await workers[worker].Grain.Holding().WaitAsync(AnswerTimeout)];
            }
            // Declared dead by membership, or re-activated with no device free: the samples are gone.
            catch (Exception e) when (e is SiloUnavailableException || Unavailable(e))
            {
                return [];
            }
            // Not reached this time (a connection refused before membership has declared the silo dead, a
            // timeout): asked again at the next audit.
            catch (Exception e) when (SiloLoss.Is(e))
            {
                return null;
            }
        }

        /// <summary>The worker re-activated and ready; or null, with no device free for it (it is gone until one frees).</summary>
        private async Task<int?> Revived(int worker)
        {
            if (!gone.Contains(worker))
            {
                try
                {
                    await owner.Revive(workers[worker].Index);
                    return worker;
                }
                catch (Exception e) when (Unavailable(e))
                {
                    gone.Add(worker);
                    if (WorkerStoppedException.In(e))
                    {
                        stopped.Add(worker);
                        owner.Notice(workers[worker].Index, Stopped(e));
                    }
                }
            }
            return Others().Length > 0 ? null : throw new InvalidOperationException($"every generation worker of the job was lost and none can be placed again");
        }

        private int[] Others() => [.. Enumerable.Range(0, workers.Count).Where(w => !gone.Contains(w))];

        /// <summary>Sends samples to a worker: <paramref name="work"/> where given (released by another worker), else each one's <see cref="Work"/>.</summary>
        private async Task Dispatch(int worker, int[] batch, GenerationWork[]? work = null)
        {
            var key = owner.Keys.Worker(workers[worker].Index);
            await Task.WhenAll(batch.Select(k => SiloLoss.Retry(() => samples[k].Dispatched(starts[k], key))));
            try
            {
                await workers[worker].Grain.Submit(work ?? [.. batch.Select(Work)]);
            }
            catch (Exception e) when (SiloLoss.Is(e) || Unavailable(e))
            {
                // The worker's silo went (or the worker stopped): the next audit finds these samples not held there and sends them again.
            }
            submitted.UnionWith(batch);
            // Sent just as their round ended: they leave the worker too.
            if (batch.Any(State.IsDiscarded)) await ReleaseFrom(worker, int.MaxValue, MigrationMove.Prefill);
        }

        /// <summary>A sample's work: from its prompt, or (sent again after its worker's loss) from the tokens so far its worker last told of.</summary>
        private GenerationWork Work(int k)
        {
            if (progress.TryGetValue(k, out var kept))
            {
                tally.Carried(kept.GeneratedTokens);
                return kept;
            }
            var s = starts[k];
            return new(s.Id, s.Prompt, s.SamplingSeed, s.MaxNewTokens, s.Temperature, [], [], s.EmulatedPrompt, PromptSeed: s.PromptSeed, Weights: weights, Step: s.Iteration, Tools: s.Tools);
        }

        /// <summary>An action that fails fails the step (the job then reports it).</summary>
        private void Watch(Task action) => action.ContinueWith(t => Trained.TrySetException(t.Exception!.InnerExceptions),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Current);
    }
}
