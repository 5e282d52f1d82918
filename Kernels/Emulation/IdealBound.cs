namespace Kernels.Emulation;

/// <summary>
/// A lower bound on one iteration of an emulated workload, whatever the stage policy: the larger of
/// (a) the total device work divided by every device, as if work moved freely between devices and
/// none waited, and (b) the critical path of the longest sample, which no policy can shorten.
/// Work, in device-seconds (an instance of tensor-parallel degree t counts t devices):
/// - generation: every prompt prefilled in one batch, and every response token decoded at the share
///   of a full decoding step it costs when the worker runs its largest batch (the capacity, or what the
///   KV cache holds at the samples' mean length), contexts at the mean prompt + half the mean response;
/// - scoring: each scoring model's forward over every sequence;
/// - training: the actor's (and critic's) forward and backward over every sequence.
/// Critical path of the sample with the longest sequence: its prefill, its decoding steps alone (batch
/// one, the cheapest a step can be), its forwards through the scoring models, its own forward and
/// backward, and the weights' transfer.
/// </summary>
public sealed record IdealBound(double WorkDeviceSeconds, int Devices, double CriticalPath)
{
    public double WorkPerDevice => WorkDeviceSeconds / Devices;
    public double Seconds => Math.Max(WorkPerDevice, CriticalPath);

    public static IdealBound For(EmulatedWorkload w)
    {
        var sequences = w.Sequences(Enumerable.Range(0, w.Samples.Count));
        var (meanPrompt, meanResponse) = (w.Samples.Average(s => (double)s.Prompt), w.Samples.Average(s => (double)s.Response));
        var batch = (int)Math.Max(1, Math.Min(w.WorkerCapacity, w.Generation.MaxCachedTokens() / (meanPrompt + meanResponse)));
        var context = (int)Math.Round(meanPrompt + meanResponse / 2);
        var perToken = w.Generation.DecodeStepSeconds(Enumerable.Repeat(context, batch).ToArray()) / batch;
        var generation = w.Generation.TensorParallel * (w.Generation.PrefillSeconds(w.Samples.Select(s => s.Prompt).ToArray())
            + perToken * w.Samples.Sum(s => (double)s.Response));
        var scoring = w.Scoring.Sum(m => m.TensorParallel * m.ForwardSeconds(sequences));
        var training = w.ActorTraining.TensorParallel * w.ActorTraining.TrainingSeconds(sequences)
            + (w.CriticTraining is { } c ? c.TensorParallel * c.TrainingSeconds(sequences) : 0);

        var longest = w.Samples.MaxBy(s => s.Prompt + s.Response);
        var decoding = 0.0;
        for (var t = 0; t < longest.Response; t++) decoding += w.Generation.DecodeStepSeconds([longest.Prompt + t]);
        var sequence = longest.Prompt + longest.Response;
        var path = w.Generation.PrefillSeconds([longest.Prompt]) + decoding + w.Scoring.Sum(m => m.ForwardSeconds([sequence]))
            + Math.Max(w.ActorTraining.TrainingSeconds([sequence]), w.CriticTraining?.TrainingSeconds([sequence]) ?? 0)
            + (w.Colocated is null ? w.Generation.WeightTransferSeconds(w.WeightLink) : 0);
        return new IdealBound(generation + scoring + training, w.Devices, path);
    }
}
