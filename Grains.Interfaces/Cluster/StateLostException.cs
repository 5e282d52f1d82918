namespace Grains.Interfaces.Cluster;

/// <summary>
/// A device grain asked to work without the state its job gave it (weights, an optimizer, a
/// configuration): it was re-activated since, after its silo's loss or a drain. The job gives the state
/// again (a worker) or goes on from its last checkpoint (a trainer, a stage); nothing is wrong with the request.
/// </summary>
[GenerateSerializer, Alias("actors.StateLost")]
public sealed class StateLostException : InvalidOperationException
{
    public StateLostException(string message) : base(message) { }
}
