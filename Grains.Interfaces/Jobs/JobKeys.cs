namespace Grains.Interfaces.Jobs;

/// <summary>
/// One place for a job's grain keys and checkpoint-store object names (pipeline stages and micro-batches:
/// <see cref="Pipeline.PipelineKeys"/>; samples: <see cref="Rl.SampleKeys"/>). A colocated job's worker,
/// scorer and trainers of device k end in "@job/d{k}": they share that device's lease and time line.
/// </summary>
public sealed record JobKeys(string Job, bool Colocated = false)
{
    public static JobKeys For(JobSpec job) => new(job.Name, job.Rl?.Placement == RolePlacement.Colocated);

    public string Worker(int index) => $"{Job}/g{index}{On(index)}";

    /// <summary>A data-parallel replica of a trained model ("actor" or "critic").</summary>
    public string Trainer(string model, int replica) => $"{Job}/{model}/{replica}{On(replica)}";

    /// <summary>One emulated scoring instance (real scoring is one stateless worker keyed by the job).</summary>
    public string Scorer(int instance) => $"{Job}/s{instance}{On(instance)}";

    /// <summary>A colocated job's device k, which its roles' keys name after "@".</summary>
    public string Device(int index) => $"{Job}/d{index}";

    private string On(int device) => Colocated ? $"@{Device(device)}" : "";

    /// <summary>How a pipelined job reports each pipeline device's busy time.</summary>
    public string PipelineDevice(int device) => $"{Job}/pp/d{device}";

    private string Objects => $"jobs/{Job}";

    /// <summary>A folder model's weights as the trainers load them: where a new job's actor starts.</summary>
    public string FolderWeights => $"{Objects}/weights/model.safetensors";

    public string ReferenceWeights => $"{Objects}/weights/reference.safetensors";

    public string ActorWeights(int version) => $"{Objects}/weights/actor-{version:D6}.safetensors";

    /// <summary>What every actor weights version's name starts with.</summary>
    public string ActorWeightsPrefix => $"{Objects}/weights/actor-";

    /// <summary>The version an actor weights object of this job holds (the inverse of <see cref="ActorWeights"/>).</summary>
    public int ActorWeightsVersion(string name) => int.Parse(name[ActorWeightsPrefix.Length..^".safetensors".Length]);

    public string CriticWeights(int version) => $"{Objects}/weights/critic-{version:D6}.safetensors";

    /// <summary>A DPO job's reference log-probs of its pairs, computed once (see Grains.Preference.ReferenceLogProbs).</summary>
    public string PreferenceReference => $"{Objects}/preference/reference-logprobs.json";

    public string Checkpoints => $"{Objects}/checkpoints/";

    /// <summary>Each iteration's metrics, written by the job as it reports them.</summary>
    public string MetricsPrefix => $"{Objects}/metrics/";

    public string Metrics(int iteration) => $"{MetricsPrefix}it-{iteration:D6}.json";

    public string Checkpoint(int iteration) => $"{Checkpoints}it-{iteration:D6}";

    /// <summary>Where a surviving data-parallel replica leaves its state for a lost one's new activation.</summary>
    public string ReplicaCopy(string model, int replica) => $"{Objects}/replica-copies/{model}-{replica}";
}
