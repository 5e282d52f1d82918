using Client.Commands;
using Grains.Interfaces.Rl;

namespace Grains.Tests.Benchmarks;

public sealed class JobViewTests
{
    [Fact]
    public void The_iteration_line_sums_up_a_colocated_jobs_devices_by_role()
    {
        // Ten colocated devices, each with a worker, a scorer and an actor replica keyed "...@job/d{k}".
        var busy = Enumerable.Range(0, 10).SelectMany(k => new[]
        {
            ($"job/g{k}@job/d{k}", 0.5 + k / 50.0), ($"job/s{k}@job/d{k}", 0.1), ($"job/actor/{k}@job/d{k}", 0.2),
        }).ToDictionary(p => p.Item1, p => p.Item2);
        var metrics = new IterationMetrics { Iteration = 3, DeviceBusy = busy, Ledger = new StepLedger { Created = 30, Trained = 30, Redispatched = 4, Migrated = 4 } };

        var line = JobView.MetricsLine(metrics);

        line.Should().EndWith("busy actorx10=20 % (20 %-20 %),gx10=59 % (50 %-68 %),sx10=10 % (10 %-10 %)");
        line.Should().Contain("resent 4 (4 migrated) discarded 0");
    }
}
