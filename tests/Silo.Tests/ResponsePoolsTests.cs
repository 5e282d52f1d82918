using FluentAssertions;
using Grains.Interfaces.Rl;
using Orleans.Serialization.Invocation;
using Silo;
using Xunit;

namespace Silo.Tests;

/// <summary>Orleans' response sources, given back on another thread than they were taken on, keep a bounded pool.</summary>
public sealed class ResponsePoolsTests
{
    [Fact]
    public void Every_grain_response_type_of_the_system_and_the_directorys_answers_have_their_pool_bounded()
    {
        var types = ResponsePools.ResponseTypes().ToList();

        types.Should().Contain([typeof(SampleRecord), typeof(bool), typeof(SampleScores)]);
        types.Select(t => t.Name).Should().Contain("DirectoryResult`1");
        ResponsePools.Bound().Should().Be(types.Count + 1, "each typed pool and the untyped one");
    }

    [Fact]
    public async Task A_thread_given_back_more_sources_than_the_bound_keeps_only_the_bound()
    {
        ResponsePools.Bound(perThread: 16);
        // Taken here, given back on another thread that takes none: the imbalance of calls made on one thread
        // and answered on another.
        var taken = Enumerable.Range(0, 100).Select(_ => ResponseCompletionSourcePool.Get<SampleRecord>()).ToList();

        var reused = await Task.Factory.StartNew(() =>
        {
            foreach (var source in taken) ResponseCompletionSourcePool.Return(source);
            var again = Enumerable.Range(0, 100).Select(_ => ResponseCompletionSourcePool.Get<SampleRecord>()).ToList();
            return again.Count(s => taken.Any(t => ReferenceEquals(t, s)));
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

        reused.Should().Be(16, "the returning thread kept 16 of the 100 and the rest went to the collector");
        ResponsePools.Bound();
    }
}
