using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;

namespace Grains.Rl;

/// <summary>
/// One sample's record and its life: Created, Generating, Generated, Scored, Trained. Each transition
/// stamps its time and tells the job; a message that repeats the last transition is ignored (false),
/// one that skips or goes back is refused. When it is scored is the job's stage policy's call. A later run of the job (a resume) may start
/// the sample afresh.
/// </summary>
public sealed class SampleGrain : Grain, ISampleGrain
{
    private SampleRecord record = new(SampleStage.New, null, null, null, null, null, null, new StageTimes());

    public Task<bool> Create(SampleStart start)
    {
        if (start.Id != this.GetPrimaryKeyString()) throw new ArgumentException($"sample {this.GetPrimaryKeyString()} was sent the start of {start.Id}");
        if (record.Stage != SampleStage.New && start.Run <= record.Start!.Run)
        {
            return record.Start.SameAs(start) ? Task.FromResult(false) : throw new InvalidOperationException($"sample {start.Id} already exists with a different start");
        }
        // New, or begun by an earlier run of the job (which a resumed run replaces): start afresh.
        record = new SampleRecord(SampleStage.New, null, null, null, null, null, null, new StageTimes());
        record = record with { Stage = SampleStage.Created, Start = start, Times = record.Times with { Created = DateTimeOffset.UtcNow } };
        return Task.FromResult(true);
    }

    public Task<bool> Dispatched(string worker)
    {
        if (record.Stage == SampleStage.Generating && record.Worker == worker) return Task.FromResult(false);
        Expect(SampleStage.Created, "dispatched");
        record = record with { Stage = SampleStage.Generating, Worker = worker, Times = record.Times with { Dispatched = record.Times.Dispatched ?? DateTimeOffset.UtcNow } };
        return Task.FromResult(true);
    }

    public Task<bool> Requeued()
    {
        if (record.Stage == SampleStage.Created) return Task.FromResult(false);
        Expect(SampleStage.Generating, "requeued");
        record = record with { Stage = SampleStage.Created, Worker = null };
        return Task.FromResult(true);
    }

    public Task<bool> Generated(GeneratedResponse response)
    {
        if (record.Stage >= SampleStage.Generated && record.Generated is { } earlier && SameResponse(earlier, response)) return Task.FromResult(false);
        Expect(SampleStage.Generating, "generated");
        if (response.Tokens == 0 || response.Response.Length != response.LogProbs.Length)
        {
            throw new ArgumentException($"sample {this.GetPrimaryKeyString()}: a response needs at least one token and one log-prob per token ({response.Response.Length} tokens, {response.LogProbs.Length} log-probs, emulated length {response.EmulatedLength})");
        }
        record = record with { Stage = SampleStage.Generated, Generated = response, Times = record.Times with { Generated = DateTimeOffset.UtcNow } };
        Job.SampleReached(this.GetPrimaryKeyString(), SampleStage.Generated).Ignore();
        return Task.FromResult(true);
    }

    public async Task<bool> Score()
    {
        if (record.Stage >= SampleStage.Scored) return false;
        Expect(SampleStage.Generated, "scored");
        var start = record.Start!;
        var generated = record.Generated!;
        var scores = await GrainFactory.GetGrain<IScoringGrain>(IScoringGrain.KeyFor(start))
            .Score(new ScoringRequest(this.GetPrimaryKeyString(), start.Prompt, generated.Response, start.Answer, start.Scoring, start.EmulatedPrompt, generated.EmulatedLength));
        record = record with { Stage = SampleStage.Scored, Scores = scores, Times = record.Times with { Scored = DateTimeOffset.UtcNow } };
        Job.SampleReached(this.GetPrimaryKeyString(), SampleStage.Scored).Ignore();
        return true;
    }

    public Task<bool> Trained(float[] advantages, float[]? returns)
    {
        if (record.Stage == SampleStage.Trained) return Task.FromResult(false);
        Expect(SampleStage.Scored, "trained");
        if (advantages.Length != record.Generated!.Response.Length)
        {
            throw new ArgumentException($"sample {this.GetPrimaryKeyString()}: {advantages.Length} advantages for {record.Generated.Response.Length} response tokens");
        }
        record = record with { Stage = SampleStage.Trained, Advantages = advantages, Returns = returns, Times = record.Times with { Trained = DateTimeOffset.UtcNow } };
        return Task.FromResult(true);
    }

    public Task<SampleRecord> Record() => Task.FromResult(record);

    private IJobGrain Job => GrainFactory.GetGrain<IJobGrain>(record.Start!.Job);

    private void Expect(SampleStage stage, string transition)
    {
        if (record.Stage != stage)
        {
            throw new InvalidOperationException($"sample {this.GetPrimaryKeyString()} cannot be {transition} while {record.Stage}; it must be {stage}");
        }
    }

    private static bool SameResponse(GeneratedResponse a, GeneratedResponse b) =>
        a.WeightVersion == b.WeightVersion && a.Response.AsSpan().SequenceEqual(b.Response) && a.LogProbs.AsSpan().SequenceEqual(b.LogProbs);
}
