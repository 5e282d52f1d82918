using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Grains.Storage;
using Orleans.Placement;

namespace Grains.Rl;

/// <summary>
/// One sample's record and its life: Created, Generating, Generated, Scored, Trained (or Discarded, from any stage before). Each transition
/// stamps its time and tells the job; a message that repeats the last transition is ignored (false),
/// one that skips or goes back is refused. When it is scored is the job's stage policy's call. A later run of the job (a resume) may start
/// the sample afresh. Its response, the costly work, is written to the ledger before it is acknowledged,
/// so a sample re-activated on another silo (its own lost) keeps it; the other transitions follow from the
/// job's plan or are cheap to redo (created and dispatched by <see cref="Restart"/> and the job's audit,
/// scores by scoring the kept response again: scoring is a function of the response). A scored sample is
/// kept from collection until it is trained. A trained sample leaves the ledger, which so holds
/// only the samples in flight, and its grain is collected <see cref="TrainedKept"/> later; its job grain
/// keeps the latest trained records, and a new activation with nothing in the ledger asked for its record
/// (or a repeat) gets it from there. Placed with the job grain that creates it: a generation or inference
/// silo's loss then takes no sample with it (its scores would have to be computed again).
/// </summary>
[PreferLocalPlacement]
// A sample idle that long (one whose step a job no longer runs) is collected.
[CollectionAgeLimit(Minutes = 2)]
public sealed class SampleGrain([PersistentState("sample", Ledger.Storage)] IPersistentState<SampleLedgerEntry> ledger) : Grain, ISampleGrain
{
    // The record itself; the ledger holds a copy of it while the sample is in flight (a provider may reset
    // its state when cleared, and a trained sample's record is still asked for).
    private SampleRecord current = SampleRecord.New;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        current = ledger.State.Record;
        return Task.CompletedTask;
    }

    /// <summary>
    /// How long a trained sample's grain stays after its training, for repeats and for its step's readers.
    /// Kept for Orleans' collection age instead (two idle minutes), the trained samples were most of the
    /// ~100,000 activations, and most of the memory, of the job grain's silo in the emulated 256-device soak.
    /// </summary>
    public static readonly TimeSpan TrainedKept = TimeSpan.FromSeconds(20);

    private bool recalled;

    /// <summary>
    /// A new activation with nothing in the ledger is either a sample not yet created or a trained one
    /// collected since: the job grain, which keeps the latest trained records, says which (asked once).
    /// </summary>
    private async Task Recall()
    {
        if (current.Start is not null || recalled || SampleKeys.JobOf(this.GetPrimaryKeyString()) is not { } job) return;
        recalled = true;
        current = await GrainFactory.GetGrain<IJobGrain>(job).TrainedRecord(this.GetPrimaryKeyString()) ?? current;
    }

    public Task<bool> Create(SampleStart start)
    {
        if (start.Id != this.GetPrimaryKeyString()) throw new ArgumentException($"sample {this.GetPrimaryKeyString()} was sent the start of {start.Id}");
        if (current.Stage != SampleStage.New && start.Run <= current.Start!.Run)
        {
            return current.Start.SameAs(start) ? Task.FromResult(false) : throw new InvalidOperationException($"sample {start.Id} already exists with a different start");
        }
        // New, or begun by an earlier run of the job (which a resumed run replaces): start afresh.
        current = Fresh(start);
        return Task.FromResult(true);
    }

    public Task Warm() => Task.CompletedTask;

    public Task<SampleStage> Restart(SampleStart start)
    {
        if (start.Id != this.GetPrimaryKeyString()) throw new ArgumentException($"sample {this.GetPrimaryKeyString()} was sent the start of {start.Id}");
        if (current.Start is null || start.Run > current.Start.Run) current = Fresh(start);
        else if (current.Stage == SampleStage.Generating) current = current with { Stage = SampleStage.Created, Worker = null };
        return Task.FromResult(current.Stage);
    }

    private static SampleRecord Fresh(SampleStart start) =>
        SampleRecord.New with { Stage = SampleStage.Created, Start = start, Times = new StageTimes(Created: DateTimeOffset.UtcNow) };

    public Task<bool> Dispatched(SampleStart start, string worker)
    {
        if (start.Id != this.GetPrimaryKeyString()) throw new ArgumentException($"sample {this.GetPrimaryKeyString()} was sent the start of {start.Id}");
        // Dispatched at its step's launch without a Create, or its record (not yet in the ledger) lost with this
        // grain's silo, or begun by an earlier run of the job: the start says what it is, as Create would.
        if (current.Start is null || start.Run > current.Start.Run) current = Fresh(start);
        else if (!current.Start.SameAs(start)) throw new InvalidOperationException($"sample {start.Id} already exists with a different start");
        if ((current.Stage == SampleStage.Generating && current.Worker == worker) || current.Stage == SampleStage.Discarded) return Task.FromResult(false);
        Expect(SampleStage.Created, "dispatched");
        current = current with { Stage = SampleStage.Generating, Worker = worker, Dispatches = current.Dispatches + 1, Times = current.Times with { Dispatched = current.Times.Dispatched ?? DateTimeOffset.UtcNow } };
        return Task.FromResult(true);
    }

    public Task<bool> Requeued()
    {
        if (current.Stage is SampleStage.Created or SampleStage.Discarded) return Task.FromResult(false);
        Expect(SampleStage.Generating, "requeued");
        current = current with { Stage = SampleStage.Created, Worker = null };
        return Task.FromResult(true);
    }

    public async Task<bool> Generated(GeneratedResponse response)
    {
        await Recall();
        if (current.Stage >= SampleStage.Generated && current.Generated is { } earlier && SameResponse(earlier, response)) return false;
        // Its round ended without it: the worker's late answer changes nothing.
        if (current.Stage == SampleStage.Discarded) return false;
        Expect(SampleStage.Generating, "generated");
        if (response.Tokens == 0 || response.Response.Length != response.LogProbs.Length)
        {
            throw new ArgumentException($"sample {this.GetPrimaryKeyString()}: a response needs at least one token and one log-prob per token ({response.Response.Length} tokens, {response.LogProbs.Length} log-probs, emulated length {response.EmulatedLength})");
        }
        await Save(current with { Stage = SampleStage.Generated, Generated = response, Times = current.Times with { Generated = DateTimeOffset.UtcNow } });
        Job.SampleReached(this.GetPrimaryKeyString(), SampleStage.Generated).Ignore();
        return true;
    }

    public Task<bool> Score() => Score(null);

    public Task<bool> ScoreOn(int device) => Score(device);

    private async Task<bool> Score(int? device)
    {
        await Recall();
        if (current.Stage >= SampleStage.Scored) return false;
        Expect(SampleStage.Generated, "scored");
        await ScoreKept(device);
        Job.SampleReached(this.GetPrimaryKeyString(), SampleStage.Scored, current).Ignore();
        return true;
    }

    /// <summary>
    /// Scores the kept response. Scores are not in the ledger, so a scored sample is kept from collection
    /// until it is trained (a step may wait minutes for its training under asynchrony and silo losses).
    /// </summary>
    private async Task ScoreKept(int? device = null)
    {
        var start = current.Start!;
        var generated = current.Generated!;
        var scores = await GrainFactory.GetGrain<IScoringGrain>(IScoringGrain.KeyFor(start, device))
            .Score(new ScoringRequest(this.GetPrimaryKeyString(), start.Prompt, generated.Response, start.Answer, start.Scoring, start.EmulatedPrompt, generated.EmulatedLength));
        current = current with { Stage = SampleStage.Scored, Scores = scores, Times = current.Times with { Scored = current.Times.Scored ?? DateTimeOffset.UtcNow } };
        DelayDeactivation(InFlight);
    }

    /// <summary>How long a scored sample waits for its training at most before collection may take its scores.</summary>
    private static readonly TimeSpan InFlight = TimeSpan.FromHours(1);

    public async Task<SampleRecord> Trained(float[] advantages, float[]? returns)
    {
        await Recall();
        if (current.Stage == SampleStage.Trained)
        {
            // Nothing trains on a sample twice: a repeat (its first answer lost) changes nothing but its count.
            current = current with { RefusedTrainings = current.RefusedTrainings + 1 };
            return current;
        }
        if (current.Stage == SampleStage.Discarded) throw new InvalidOperationException($"sample {this.GetPrimaryKeyString()} was discarded ({current.DiscardedFor}): no step trains on it");
        // Scores are not in the ledger: a grain re-activated between its scoring and its training (its silo
        // lost, or collected after waiting longer than it is kept) scores its kept response again.
        if (current.Stage == SampleStage.Generated) await ScoreKept();
        Expect(SampleStage.Scored, "trained");
        if (advantages.Length != current.Generated!.Response.Length)
        {
            throw new ArgumentException($"sample {this.GetPrimaryKeyString()}: {advantages.Length} advantages for {current.Generated.Response.Length} response tokens");
        }
        current = current with { Stage = SampleStage.Trained, Advantages = advantages, Returns = returns, Times = current.Times with { Trained = DateTimeOffset.UtcNow } };
        await Leave();
        return current;
    }

    public async Task<SampleRecord> Discard(string reason)
    {
        await Recall();
        if (current.Stage is SampleStage.Trained or SampleStage.Discarded) return current;
        if (current.Start is null) throw new InvalidOperationException($"sample {this.GetPrimaryKeyString()} was never created: there is nothing to discard");
        current = current with { Stage = SampleStage.Discarded, DiscardedFor = reason };
        await Leave();
        return current;
    }

    /// <summary>The step is over for this sample: it leaves the ledger, which holds only samples in flight, and its grain goes soon.</summary>
    private async Task Leave()
    {
        if (ledger.RecordExists) await ledger.ClearStateAsync();
        DelayDeactivation(TimeSpan.Zero);
        var (run, stage) = (current.Start!.Run, current.Stage);
        this.RegisterGrainTimer(() =>
        {
            // Not one started afresh since by a later run of the job (a replay from a checkpoint).
            if (current.Stage == stage && current.Start!.Run == run) DeactivateOnIdle();
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions { DueTime = TrainedKept, Period = Timeout.InfiniteTimeSpan });
    }

    public async Task<SampleRecord> Record()
    {
        await Recall();
        return current;
    }

    /// <summary>The new record is in the ledger before anyone hears of it.</summary>
    private async Task Save(SampleRecord next)
    {
        current = ledger.State.Record = next;
        await ledger.WriteStateAsync();
    }

    private IJobGrain Job => GrainFactory.GetGrain<IJobGrain>(current.Start!.Job);

    private void Expect(SampleStage stage, string transition)
    {
        if (current.Stage != stage)
        {
            throw new InvalidOperationException($"sample {this.GetPrimaryKeyString()} cannot be {transition} while {current.Stage}; it must be {stage}");
        }
    }

    private static bool SameResponse(GeneratedResponse a, GeneratedResponse b) =>
        a.WeightVersion == b.WeightVersion && a.Response.AsSpan().SequenceEqual(b.Response) && a.LogProbs.AsSpan().SequenceEqual(b.LogProbs);
}

/// <summary>A sample grain's state in the ledger.</summary>
[GenerateSerializer]
public sealed class SampleLedgerEntry
{
    [Id(0)] public SampleRecord Record { get; set; } = SampleRecord.New;
}
