namespace Grains.Interfaces.Rl;

/// <summary>
/// One step's samples, accounted for from their ledger records when the step is over: every sample
/// created is trained or discarded (with the reason); one that is neither was lost, and the step fails
/// naming it rather than report a balance that does not hold.
/// </summary>
[GenerateSerializer, Immutable]
public sealed record StepLedger
{
    [Id(0)] public int Created { get; init; }
    [Id(1)] public int Generated { get; init; }
    [Id(2)] public int Scored { get; init; }
    [Id(3)] public int Trained { get; init; }
    /// <summary>Times samples were sent to a worker again: their worker's silo was lost, it was drained, or the step's tail was gathered.</summary>
    [Id(4)] public int Redispatched { get; init; }
    [Id(5)] public int Discarded { get; init; }
    /// <summary>Discarded samples by reason.</summary>
    [Id(6)] public Dictionary<string, int> DiscardedFor { get; init; } = [];
    /// <summary>Tokens so far that samples sent again went on from instead of their prompt (partial rollouts).</summary>
    [Id(7)] public long TokensCarried { get; init; }
    /// <summary>Samples taken from other workers' queues by workers back after their silo's loss (counted in <see cref="Redispatched"/> too).</summary>
    [Id(8)] public int TakenBack { get; init; }
    /// <summary>
    /// Samples moved off a running worker: to gather the step's tail on a few (long-tail migration), or as
    /// it left (an elastic pool's move, its silo drained). Counted in <see cref="Redispatched"/> too.
    /// </summary>
    [Id(9)] public int Migrated { get; init; }
    /// <summary>Of the samples moved, those that went on with their KV cache sent along instead of their context prefilled again.</summary>
    [Id(10)] public int CachesCarried { get; init; }
    /// <summary>Calls to train a sample already trained (repeats after a lost answer), each refused by its sample grain.</summary>
    [Id(11)] public int RefusedTrainings { get; init; }

    public int Lost => Created - Trained - Discarded;

    /// <summary>The ledger of a step's final records; throws naming the samples neither trained nor discarded.</summary>
    public static StepLedger Of(IReadOnlyList<SampleRecord> records)
    {
        var lost = records.Where(r => r.Stage is not (SampleStage.Trained or SampleStage.Discarded)).Select(r => $"{r.Start?.Id ?? "?"} ({r.Stage})").ToList();
        if (lost.Count > 0)
        {
            throw new InvalidOperationException($"{lost.Count} of {records.Count} samples were neither trained nor discarded: {string.Join(", ", lost.Take(5))}{(lost.Count > 5 ? ", ..." : "")}");
        }
        return new StepLedger
        {
            Created = records.Count,
            Generated = records.Count(r => r.Generated is not null),
            Scored = records.Count(r => r.Scores is not null),
            Trained = records.Count(r => r.Stage == SampleStage.Trained),
            Discarded = records.Count(r => r.Stage == SampleStage.Discarded),
            DiscardedFor = records.Where(r => r.Stage == SampleStage.Discarded).GroupBy(r => r.DiscardedFor ?? "no reason given").ToDictionary(g => g.Key, g => g.Count()),
            Redispatched = records.Sum(r => r.Redispatches),
            RefusedTrainings = records.Sum(r => r.RefusedTrainings),
        };
    }
}
