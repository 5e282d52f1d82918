using Grains.Interfaces.Rl;
using Orleans.Concurrency;

namespace Grains.Interfaces.Jobs;

/// <summary>The single controller of one job (key: the job's name): its spec, its progress, its end.</summary>
public interface IJobGrain : IGrainWithStringKey
{
    /// <summary>Starts the job; submitting the same spec again is harmless, a different one under the same name is refused.</summary>
    Task<JobStatus> Submit(JobSpec spec);

    /// <summary>Starts the job from its latest checkpoint in the store (from the beginning when it has none).</summary>
    Task<JobStatus> Resume(JobSpec spec);

    Task<JobStatus> Status();

    /// <summary>The job file it runs (or ran), null before a submit.</summary>
    Task<JobSpec?> Spec();

    Task<JobStatus> Cancel();

    /// <summary>The metrics of iterations from <paramref name="fromIteration"/> on (RL jobs).</summary>
    Task<IterationMetrics[]> Metrics(int fromIteration);

    /// <summary>
    /// A sample reached <paramref name="stage"/> (sent by the sample grain); once scored, with its record, which
    /// the step then need not read back from each sample before it trains.
    /// </summary>
    [OneWay]
    Task SampleReached(string sampleId, SampleStage stage, SampleRecord? scored = null);

    /// <summary>
    /// Samples in a generation worker's batch, each with its tokens so far (partial rollouts): what a sample
    /// lost with the worker's silo goes on from.
    /// </summary>
    [OneWay]
    Task SamplesProgressed(GenerationWork[] progress);

    /// <summary>
    /// A generation worker of this job whose silo is drained holds samples: the job takes them off it (with
    /// their tokens so far) for its other workers, then vacates it.
    /// </summary>
    [OneWay]
    Task WorkerDrained(string worker);

    /// <summary>
    /// The samples still generating whose tokens so far a worker told of (partial rollouts), longest first:
    /// where a step's long tail is, and what a worker's loss would send elsewhere.
    /// </summary>
    Task<GeneratingSample[]> Generating();

    /// <summary>
    /// A trained sample's final record, while the job keeps it (the latest steps'): what a sample grain
    /// collected after its training answers from. Null for a sample it does not keep.
    /// </summary>
    [AlwaysInterleave]
    Task<SampleRecord?> TrainedRecord(string sampleId);

    /// <summary>The final records of an iteration's trained samples that the job keeps (the latest steps'), in sample order: what <c>actors dataset pairs</c> makes preference pairs of.</summary>
    [AlwaysInterleave]
    Task<SampleRecord[]> TrainedRecords(int iteration);
}

/// <summary>A sample still generating and its tokens so far, as its worker last told.</summary>
[GenerateSerializer, Immutable]
public sealed record GeneratingSample([property: Id(0)] string SampleId, [property: Id(1)] int Tokens);

public enum JobState
{
    NotSubmitted,
    Running,
    Completed,
    Failed,
    Cancelled,
}

[GenerateSerializer, Immutable]
public sealed record JobStatus(
    [property: Id(0)] string Job,
    [property: Id(1)] JobState State,
    [property: Id(2)] int IterationsDone,
    [property: Id(3)] int Iterations,
    [property: Id(4)] double? LastLoss,
    [property: Id(5)] string Message,
    [property: Id(6)] DateTimeOffset? Started,
    [property: Id(7)] DateTimeOffset? Finished)
{
    /// <summary>Times the job went back to its last checkpoint after a silo's loss (its own grain's, or one no replica covered).</summary>
    [Id(8)] public int Recoveries { get; init; }

    /// <summary>
    /// What the job went on without, oldest first (at most <see cref="MaxNotices"/>): a worker stopped because a
    /// weights version failed to load on it, a damaged checkpoint passed over. The message moves on each
    /// iteration; these stay until the job is submitted again.
    /// </summary>
    [Id(9)] public string[] Notices { get; init; } = [];

    public const int MaxNotices = 32;

    /// <summary>This status with <paramref name="notice"/> added (once; the oldest goes past <see cref="MaxNotices"/>).</summary>
    public JobStatus Noticed(string notice) => Notices.Contains(notice) ? this : this with { Notices = [.. Notices.Append(notice).TakeLast(MaxNotices)] };

    public bool IsFinished => State is JobState.Completed or JobState.Failed or JobState.Cancelled;
}
