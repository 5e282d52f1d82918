namespace Silo;

/// <summary>Counts the grain calls this silo receives: the control plane's traffic, as `bench` reports it.</summary>
public sealed class GrainCallCounter : IIncomingGrainCallFilter
{
    private long calls;

    public long Calls => Interlocked.Read(ref calls);

    public Task Invoke(IIncomingGrainCallContext context)
    {
        Interlocked.Increment(ref calls);
        Grains.Telemetry.ActorsMeter.GrainCalls.Add(1);
        return context.Invoke();
    }
}
