namespace Grains.Interfaces.Rl;

/// <summary>
/// Fits a job's output-length model (the ranker's model on the prompt's tokens) off the job grain, as
/// StreamRL serves its ranker: a stateless worker on the job's silo, given the window of prompts the job
/// observed and answering the model's weights. The job forecasts with the weights it was last given.
/// </summary>
public interface ILengthModelGrain : IGrainWithIntegerKey
{
    /// <summary>The weights (one per bucket, then the bias) that fit the window; refused, naming what is wrong, for a window that cannot be fit.</summary>
    Task<double[]> Fit(LengthModelWindow window);
}

/// <summary>The prompts a job's length model is fit to (tokens), each with its observed length score, and the model's shape.</summary>
[GenerateSerializer, Immutable]
public sealed record LengthModelWindow(int Buckets, double Ridge, int[][] Prompts, double[] Scores);
