using FluentAssertions;
using Grains.Cluster;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Polly.Timeout;

namespace Grains.Tests;

public class SiloLossRetryTests
{
    [Fact]
    public async Task A_call_cancelled_by_the_runtime_or_lost_with_a_silo_is_tried_again_until_it_answers()
    {
        var failures = new Queue<Exception>([new OperationCanceledException("directory lookup cancelled"), new TimeoutException("no answer")]);
        var calls = 0;

        var answer = await SiloLoss.Retry(() =>
        {
            calls++;
            return failures.TryDequeue(out var failure) ? Task.FromException<int>(failure) : Task.FromResult(42);
        });

        answer.Should().Be(42);
        calls.Should().Be(3);
    }

    [Fact]
    public async Task A_call_that_fails_on_its_own_request_is_not_tried_again()
    {
        var calls = 0;

        var act = () => SiloLoss.Retry(() =>
        {
            calls++;
            return Task.FromException<int>(new ArgumentException("rows: empty"));
        });

        await act.Should().ThrowAsync<ArgumentException>().WithMessage("rows: empty");
        calls.Should().Be(1);
    }

    [Fact]
    public void A_call_the_runtime_cancelled_counts_as_a_silos_loss_where_a_request_of_its_own_does_not()
    {
        // The audit asks workers what they hold; a lookup cancelled as a directory partition moved failed the job.
        SiloLoss.Is(new OperationCanceledException("directory lookup cancelled")).Should().BeTrue();
        SiloLoss.Is(new TaskCanceledException()).Should().BeTrue();
        SiloLoss.Is(new AggregateException(new OperationCanceledException(), new TimeoutException())).Should().BeTrue();
        SiloLoss.Is(new AggregateException(new OperationCanceledException(), new ArgumentException("rows"))).Should().BeFalse();
        SiloLoss.Is(new InvalidOperationException("sample 3 was scored before it was generated")).Should().BeFalse();
    }

    [Fact]
    public void A_placement_that_timed_out_is_a_silos_loss_and_crosses_the_wire_as_itself()
    {
        // Measured in a chaos run: a call placed while the killed silo still owned its directory partition
        // waited out Orleans' placement timeout (a Polly TimeoutRejectedException), and the client got a codec error.
        SiloLoss.Is(new TimeoutRejectedException("Grain placement operation timed out after 00:00:30.")).Should().BeTrue();

        static Exception RoundTrip(IServiceCollection services)
        {
            using var provider = services.AddSerializer().BuildServiceProvider();
            var serializer = provider.GetRequiredService<Serializer>();
            return serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(new TimeoutRejectedException("placement timed out")))!;
        }

        var plain = () => RoundTrip(new ServiceCollection());
        plain.Should().Throw<CodecNotFoundException>().WithMessage("*TimeoutRejectedException*", "Orleans does not serialize Polly's exceptions by itself");
        var crossed = RoundTrip(new ServiceCollection().AddLossExceptions());
        crossed.Should().BeOfType<TimeoutRejectedException>().Which.Message.Should().Be("placement timed out");
        SiloLoss.Is(crossed).Should().BeTrue();
    }
}
