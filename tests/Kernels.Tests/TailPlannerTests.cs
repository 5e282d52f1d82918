using FluentAssertions;
using Kernels.Emulation;
using Xunit;

namespace Kernels.Tests;

/// <summary>The simulation that chooses RLHFuse's migration threshold and targets, against the batch it is built from.</summary>
public sealed class TailPlannerTests
{
    private static readonly CostModel Cost = new(DeviceClass.H800, ModelShape.Qwen25_7B);

    /// <summary>
    /// Twenty sequences dealt over four workers (i mod 4): each gets four short responses and a long one
    /// (worker 0's the longest); the shorts end together, leaving a fifth of the step, one on each worker.
    /// </summary>
    private static readonly EmulatedSequence[] Sequences =
    [
        .. Enumerable.Range(0, 16).Select(k => new EmulatedSequence($"short{k}", 256, 10)),
        new("long0", 256, 4000), new("long1", 256, 1500), new("long2", 256, 1500), new("long3", 256, 1500),
    ];

    private static EmulatedSequence[] Of(int worker) => [.. Sequences.Where((_, i) => i % 4 == worker)];

    [Fact]
    public void Without_migration_each_worker_runs_its_own_batch_and_holds_its_device_until_its_last_response()
    {
        var (seconds, held) = TailPlanner.Simulate(Cost, capacity: 8, workers: 4, Sequences, remaining: 0, targets: 0);

        // One batch per worker, as EmulatedBatch.Simulate runs it alone.
        var alone = Enumerable.Range(0, 4).Select(w => EmulatedBatch.Simulate(Cost, 8, Of(w)).Seconds).ToArray();
        seconds.Should().BeApproximately(alone.Max(), 1e-9);
        held.Should().BeApproximately(alone.Sum(), 1e-9);
    }

    [Fact]
    public void Gathering_the_tail_frees_the_other_workers_at_the_threshold_and_its_target_runs_the_moved_responses_on()
    {
        var none = TailPlanner.Simulate(Cost, 8, 4, Sequences, 0, 0);

        // A fifth left once the shorts end: the longs of workers 1-3 move to worker 0 (all hold one; the lowest index wins).
        var gathered = TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining: 0.2, targets: 1);

        var shortsEnd = EmulatedBatch.Simulate(Cost, 8, Of(1)).FinishedAt["short1"];
        // Workers 1-3 are held until the shorts end; worker 0 until its batch of four finishes the longs.
        gathered.Held.Should().BeApproximately(gathered.Seconds + 3 * shortsEnd, 1e-9);
        gathered.Held.Should().BeLessThan(none.Held * 0.6, "three workers go at the threshold instead of after 1,500 tokens");
        gathered.Seconds.Should().BeGreaterThan(none.Seconds, "the longest response now shares its batch with three others");
    }

    [Fact]
    public void The_chosen_plan_holds_the_least_device_time_within_the_allowed_slowdown_or_does_not_migrate()
    {
        var none = TailPlanner.Simulate(Cost, 8, 4, Sequences, 0, 0);

        var strict = TailPlanner.Choose(Cost, 8, 4, Sequences, slowdown: 0);
        var lenient = TailPlanner.Choose(Cost, 8, 4, Sequences, slowdown: 0.5);

        strict.Should().Be(new TailPlanner.Plan(0, 0, none.Seconds, none.Held), "every gather that moves a response here adds its prefill to the step");
        lenient.Workers.Should().BeInRange(1, 3);
        lenient.Seconds.Should().BeLessThanOrEqualTo(none.Seconds * 1.5);
        foreach (var remaining in TailPlanner.Thresholds)
        {
            foreach (var m in new[] { 1, 2 })
            {
                var run = TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining, m);
                if (run.Seconds <= none.Seconds * 1.5) lenient.HeldDeviceSeconds.Should().BeLessThanOrEqualTo(run.Held, $"R_t {remaining}, m {m} holds {run.Held:F1}");
            }
        }
    }

    [Fact]
    public void Training_early_a_gather_that_ends_later_wins_once_the_freed_devices_have_work_enough_to_fill_the_wait()
    {
        var none = TailPlanner.Simulate(Cost, 8, 4, Sequences, 0, 0);
        // The shorts end and leave a fifth: the tail gathered on the worker holding the longest.
        var gathered = TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining: 0.2, targets: 1);

        // Nothing else to do: a freed device idles, so the step is generation's end, and every gather here ends later.
        var idle = TailPlanner.ChooseForEarlyTraining(Cost, 8, 4, Sequences, otherWork: 0, afterGeneration: 0);
        // Work enough that the devices' time sets the step: the gather holding the least device time.
        var busy = TailPlanner.ChooseForEarlyTraining(Cost, 8, 4, Sequences, otherWork: 10 * none.Seconds, afterGeneration: 0);
        // The same work, but all of it must follow generation (nothing to do early): the end counts again.
        var after = TailPlanner.ChooseForEarlyTraining(Cost, 8, 4, Sequences, otherWork: 10 * none.Seconds, afterGeneration: 10 * none.Seconds);

        idle.Should().Be(new TailPlanner.Plan(0, 0, none.Seconds, none.Held));
        gathered.Seconds.Should().BeGreaterThan(none.Seconds, "a plan that may not slow generation would refuse it");
        busy.Workers.Should().Be(1, "one target holds least");
        busy.Seconds.Should().BeGreaterThan(none.Seconds);
        busy.HeldDeviceSeconds.Should().BeLessThanOrEqualTo(gathered.Held);
        foreach (var remaining in TailPlanner.EarlyTrainingThresholds)
        {
            foreach (var m in new[] { 1, 2 }) busy.HeldDeviceSeconds.Should().BeLessThanOrEqualTo(TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining, m).Held);
        }
        // Step predicted: max(end + after, held / 4 + work): with after = work, the end's term, and a gather only ends later.
        none.Seconds.Should().BeGreaterThanOrEqualTo(none.Held / 4);
        after.Should().Be(new TailPlanner.Plan(0, 0, none.Seconds, none.Held), "each gather's later end costs more than the device time it frees");
    }

    [Fact]
    public void Training_early_what_follows_generation_is_the_longest_mini_batch_not_an_even_share()
    {
        // Eight samples, two mini-batches of four: the four longest end last, so the step's last mini-batch is theirs.
        (int Prompt, int Response)[] samples = [(100, 10), (100, 3000), (100, 20), (100, 1500), (100, 30), (100, 2000), (100, 40), (100, 1000)];
        var workload = new EmulatedWorkload(samples, Cost, GenerationWorkers: 2, WorkerCapacity: 8, [Cost], InferenceDevices: 2, Cost, CriticTraining: Cost,
            [[[0, 1], [2, 3]], [[4, 5], [6, 7]]], Link.InfiniBand, new RoleSwitch(DeviceClass.H800, ModelShape.Qwen25_7B, ModelShape.Qwen25_7B, null, 1, 2));

        var last = TailPlanner.LastMiniBatchTraining(workload);

        // Actor and critic (the same shape here) over samples 1, 3, 5 and 7, on the 2 devices.
        last.Should().BeApproximately(2 * Cost.TrainingSeconds([3100, 1600, 2100, 1100]) / 2, 1e-9);
        last.Should().BeGreaterThan(IdealBound.For(workload).Training / 2, "the long half holds most of the tokens");
        var disaggregated = () => TailPlanner.LastMiniBatchTraining(workload with { Colocated = null });
        disaggregated.Should().Throw<ArgumentException>().WithMessage("*colocated*");
    }

    [Fact]
    public void Early_training_plans_refuse_negative_work()
    {
        var negative = () => TailPlanner.ChooseForEarlyTraining(Cost, 8, 4, Sequences, otherWork: -1, afterGeneration: 0);

        negative.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*0 or more*");
    }

    [Fact]
    public void A_tail_moved_with_its_KV_caches_ends_sooner_than_one_prefilled_again()
    {
        var prefilled = TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining: 0.2, targets: 1);
        var carried = TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining: 0.2, targets: 1, new CacheTransfer(Link.InfiniBand));

        // The three moved longs, ten tokens in, arrive as 3 x 266 tokens of cache instead of a prefill of them.
        carried.Seconds.Should().BeLessThan(prefilled.Seconds);
        (prefilled.Seconds - carried.Seconds).Should().BeApproximately(
            Cost.PrefillSeconds([266, 266, 266]) - Cost.CacheTransferSeconds([266, 266, 266], Link.InfiniBand), 1e-9);
    }

    [Fact]
    public void Long_tail_instances_are_dealt_nothing_and_the_tail_gathered_onto_them_decodes_on_their_devices()
    {
        // Worker 0 is an instance of four devices; workers 1-4 take the twenty sequences as workers 0-3 did above.
        var four = new LongTailInstances(new CostModel(DeviceClass.H800, ModelShape.Qwen25_7B, tensorParallel: 4), 1);
        var none = TailPlanner.Simulate(Cost, 8, 4, Sequences, 0, 0);

        var idle = TailPlanner.Simulate(Cost, 8, 5, Sequences, 0, 0, longTail: four);
        var gathered = TailPlanner.Simulate(Cost, 8, 5, Sequences, remaining: 0.2, targets: 1, longTail: four);

        idle.Seconds.Should().BeApproximately(none.Seconds, 1e-9, "without a gather the instance does nothing");
        // At the shorts' end the four longs (ten tokens each) leave for the instance, which prefills and runs them as one batch.
        var shortsEnd = EmulatedBatch.Simulate(Cost, 8, Of(1)).FinishedAt["short1"];
        EmulatedSequence[] longs = [.. Sequences.Where(s => s.Id.StartsWith("long")).Select(s => s with { Generated = 10 })];
        gathered.Seconds.Should().BeApproximately(shortsEnd + EmulatedBatch.Simulate(four.Generation, 8, longs).Seconds, 1e-9);
        gathered.Seconds.Should().BeLessThan(none.Seconds, "four devices decode the longest response faster, even beside three others");
        var chosen = TailPlanner.ChooseForLongTail(Cost, four, 8, 5, Sequences);
        chosen.Workers.Should().Be(1);
        chosen.Seconds.Should().Be(TailPlanner.Thresholds.Min(r => TailPlanner.Simulate(Cost, 8, 5, Sequences, r, 1, longTail: four).Seconds));
    }

    [Fact]
    public void Bad_settings_are_refused()
    {
        var act = () => TailPlanner.Simulate(Cost, 8, 4, Sequences, remaining: 0.1, targets: 4);

        act.Should().Throw<ArgumentOutOfRangeException>().WithMessage("*between 1 and 3*");
    }
}
