using System.Reflection;
using Orleans.Serialization.Invocation;

namespace Silo;

/// <summary>
/// Bounds Orleans' pools of response sources. A grain call takes one from the calling thread's pool and
/// gives it back on the thread that reads the response, with no bound on a thread's pool: where calls are
/// made on some threads and answered on others, as the job grain's thousands of calls to its samples are,
/// the answering threads' pools only grow. Measured in the chaos soak (heap dumps of the sample grains'
/// silo): 428,044 pooled sources for SampleRecord and 444,855 for bool after 30 minutes, ~80 MB and
/// rising with every step, while a few thousand calls were ever in flight. A bound per thread keeps the
/// pools' use (a thread's pool still serves its own calls) without their growth. Orleans keeps the pools
/// internal: they are reached by reflection, for the response types of this system's grain interfaces
/// and of Orleans' grain directory; a pool not found is left as it is.
/// </summary>
public static class ResponsePools
{
    /// <summary>Sources a thread keeps of each response type: more than the calls one grain turn makes at once.</summary>
    public const int PerThread = 4096;

    /// <summary>Bounds the pool of each response type; returns how many pools were bounded.</summary>
    public static int Bound(int perThread = PerThread)
    {
        var bounded = Set(typeof(ResponseCompletionSourcePool).GetField("UntypedPool", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)?.GetValue(null), perThread) ? 1 : 0;
        var typed = typeof(ResponseCompletionSourcePool).GetNestedType("TypedPool`1", BindingFlags.NonPublic | BindingFlags.Public);
        if (typed is null) return bounded;
        foreach (var type in ResponseTypes())
        {
            var pool = typed.MakeGenericType(type).GetField("Pool", BindingFlags.NonPublic | BindingFlags.Public | BindingFlags.Static)?.GetValue(null);
            if (Set(pool, perThread)) bounded++;
        }
        return bounded;
    }

    /// <summary>The T of every Task&lt;T&gt; a grain interface of this system returns, and the grain directory's answers.</summary>
    public static IEnumerable<Type> ResponseTypes()
    {
        var own = typeof(Grains.Interfaces.Jobs.IJobGrain).Assembly.GetTypes()
            .Where(t => t.IsInterface && typeof(IAddressable).IsAssignableFrom(t))
            .SelectMany(t => t.GetMethods())
            .Select(m => m.ReturnType)
            .Where(r => r.IsGenericType && r.GetGenericTypeDefinition() == typeof(Task<>))
            .Select(r => r.GetGenericArguments()[0]);
        var directoryResult = typeof(IGrainFactory).Assembly.GetType("Orleans.Runtime.DirectoryResult`1")
            ?? Type.GetType("Orleans.Runtime.DirectoryResult`1, Orleans.Runtime");
        var directory = directoryResult is null ? [] : new[] { typeof(bool), typeof(GrainAddress) }.Select(t => directoryResult.MakeGenericType(t));
        return own.Concat(directory).Where(t => !t.ContainsGenericParameters).Distinct();
    }

    private static bool Set(object? pool, int perThread)
    {
        var property = pool?.GetType().GetProperty("MaxPoolSize", BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance);
        if (property is null || property.PropertyType != typeof(int) || !property.CanWrite) return false;
        property.SetValue(pool, perThread);
        return true;
    }
}
