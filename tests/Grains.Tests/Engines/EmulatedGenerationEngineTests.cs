using Grains.Engines;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Tests.Engines;

public sealed class EmulatedGenerationEngineTests
{
    private static readonly EmulatedGenerator Generator = new(new EmulatedDevice("H100", "qwen2.5-7b", 1, 1), "reasoning", "infiniband-400g");
    private static readonly WeightsRef V0 = new("job/actor-0", 0), V1 = new("job/actor-1", 1);

    /// <summary>A device's time line that takes no wall time and keeps each operation's emulated seconds.</summary>
    private sealed class RecordedTime : IDeviceTime
    {
        public List<(string Stage, double Seconds)> Operations { get; } = [];
        public double TimeScale => 1;

        public Task Occupy(double emulatedSeconds, string stage)
        {
            Operations.Add((stage, emulatedSeconds));
            return Task.CompletedTask;
        }

        public (double BusySeconds, BusyInterval[] Intervals) Take() => (Operations.Sum(o => o.Seconds), []);

        public double Generation => Operations.Where(o => o.Stage == "generation").Sum(o => o.Seconds);
    }

    private static GenerationWork Work(int k) =>
        new($"job/1/{k}", [], 100 + k, 30_000, 1.0, [], [], EmulatedPrompt: 256, PromptSeed: 7 + k, Weights: V0, Step: 1);

    /// <summary>Generates two samples, interrupts them after a few advances with version 1 (then hands them back if asked), and generates them to their end.</summary>
    private static async Task<(double Generation, GenerationWork[] Interrupted, int[] Lengths)> Interrupted(InterruptedCache cache, bool handBack = false)
    {
        var time = new RecordedTime();
        var engine = new EmulatedGenerationEngine(Generator, new GenerationLimits(8, 1 << 20, "qwen2.5-7b", 40_000, Generator, PartialRollouts: true, InterruptedCache: cache), time);
        await engine.LoadWeights(V0);
        engine.TryAdmit(Work(0)).Should().BeTrue();
        engine.TryAdmit(Work(1)).Should().BeTrue();
        for (var i = 0; i < 3; i++) (await engine.Advance()).Should().BeEmpty();

        var interrupted = await engine.Interrupt();
        // A hand-back (the job gathering its samples) finds nothing in the batch, and the device forgets what it kept.
        if (handBack) (await engine.EvictAll()).Should().BeEmpty();
        await engine.LoadWeights(V1);
        foreach (var w in interrupted) engine.TryAdmit(w).Should().BeTrue();
        var lengths = new List<int>();
        while (engine.Count > 0) lengths.AddRange((await engine.Advance()).Select(f => f.Length));
        return (time.Generation, interrupted, [.. lengths.Order()]);
    }

    [Fact]
    public async Task An_interrupted_sample_resumes_on_its_kept_cache_unless_the_job_asks_to_recompute_it()
    {
        var kept = await Interrupted(InterruptedCache.Auto);
        var recomputed = await Interrupted(InterruptedCache.Recompute);

        kept.Interrupted.Should().HaveCount(2).And.OnlyContain(w => w.EmulatedGenerated > 0 && w.Cache == null);
        recomputed.Interrupted.Should().BeEquivalentTo(kept.Interrupted, "the same tokens so far either way");
        recomputed.Lengths.Should().Equal(kept.Lengths, "each sample reaches the length its seed draws with the version it began under");
        // The only difference: the resumed contexts' prefill, which the kept caches spare.
        var contexts = kept.Interrupted.Select(w => w.PromptTokens + w.EmulatedGenerated).ToArray();
        var prefill = EmulatedCosts.Of(Generator.Device).PrefillSeconds(contexts);
        (recomputed.Generation - kept.Generation).Should().BeApproximately(prefill, 1e-9);
        prefill.Should().BePositive();
    }

    [Fact]
    public async Task A_sample_first_admitted_under_a_newer_version_resumes_to_the_length_its_steps_version_draws()
    {
        // Lengths grow by 1 % a version here, so a draw with another version comes out another length.
        var drifting = Generator with { LengthDrift = 0.01 };
        async Task<int> Generated(GenerationWork work)
        {
            // A worker already on version 1 (partial rollouts: it admits a step-of-version-0 sample beside newer ones).
            var engine = new EmulatedGenerationEngine(drifting, new GenerationLimits(8, 1 << 20, "qwen2.5-7b", 40_000, drifting, PartialRollouts: true), new RecordedTime());
            await engine.LoadWeights(V1);
            engine.TryAdmit(work).Should().BeTrue();
            var lengths = new List<int>();
            while (engine.Count > 0) lengths.AddRange((await engine.Advance()).Select(f => f.Length));
            return lengths.Single();
        }
        var lengths = EmulatedCosts.Lengths(drifting);
        int[] byVersion = [EmulatedCosts.ResponseLength(lengths, 7, 100, 0, 30_000), EmulatedCosts.ResponseLength(lengths, 7, 100, 1, 30_000)];
        byVersion[0].Should().NotBe(byVersion[1]);

        var fresh = await Generated(Work(0));
        // Moved or interrupted after 100 tokens, which the version-1 worker sampled: its first span says version 1.
        var resumed = await Generated(Work(0) with { EmulatedGenerated = 100, Spans = [new VersionSpan(1, 100)] });

        fresh.Should().Be(byVersion[0], "drawn with the version its step names");
        resumed.Should().Be(fresh, "however it resumes (before, the first span's version drew it again, longer)");
    }

    [Fact]
    public async Task A_hand_back_gives_up_the_kept_caches_so_the_samples_are_prefilled_wherever_they_resume()
    {
        var recomputed = await Interrupted(InterruptedCache.Recompute);
        var handedBack = await Interrupted(InterruptedCache.Auto, handBack: true);

        handedBack.Lengths.Should().Equal(recomputed.Lengths);
        handedBack.Generation.Should().BeApproximately(recomputed.Generation, 1e-9, "resumed even on the device that ran them, they are prefilled again");
    }

    [Fact]
    public async Task A_sample_sent_on_from_the_queue_takes_its_kept_cache_when_the_move_says_so_and_the_device_lets_go_of_it()
    {
        var time = new RecordedTime();
        var engine = new EmulatedGenerationEngine(Generator, new GenerationLimits(8, 1 << 20, "qwen2.5-7b", 40_000, Generator, PartialRollouts: true, InterruptedCache: InterruptedCache.Auto), time);
        await engine.LoadWeights(V0);
        engine.TryAdmit(Work(0)).Should().BeTrue();
        engine.TryAdmit(Work(1)).Should().BeTrue();
        for (var i = 0; i < 3; i++) await engine.Advance();
        var interrupted = await engine.Interrupt();
        await engine.LoadWeights(V1);
        var contexts = interrupted.Select(w => w.PromptTokens + w.EmulatedGenerated).ToArray();

        var carried = engine.Dequeued(interrupted[0], MigrationMove.Cache);
        var prefilled = engine.Dequeued(interrupted[1], MigrationMove.Prefill);

        carried.Cache.Should().Be(new CarriedCache(1, contexts[0], []) with { Entries = carried.Cache!.Entries }, "kept caches resume under the version loaded since");
        carried.Cache.Entries.Should().BeEmpty("only its size counts on an emulated device");
        prefilled.Cache.Should().BeNull();
        engine.Dequeued(interrupted[0], MigrationMove.Cache).Cache.Should().BeNull("the device let go of it with the first");
        // Admitted here again, neither finds its cache kept: the old device pays both prefills.
        time.Operations.Clear();
        foreach (var w in interrupted) engine.TryAdmit(w).Should().BeTrue();
        while (engine.Count > 0) await engine.Advance();
        var cost = EmulatedCosts.Of(Generator.Device);
        // Another worker on version 1 receives the carried one's cache over the link, and prefills the other.
        var other = new RecordedTime();
        var there = new EmulatedGenerationEngine(Generator, new GenerationLimits(8, 1 << 20, "qwen2.5-7b", 40_000, Generator, PartialRollouts: true), other);
        await there.LoadWeights(V1);
        there.TryAdmit(carried).Should().BeTrue();
        there.TryAdmit(prefilled).Should().BeTrue();
        other.Operations.Clear();
        while (there.Count > 0) await there.Advance();
        // The same tokens decoded in the same batch on both: what differs is how the contexts got there.
        var link = Link.Parse(Generator.WeightLink);
        (time.Generation - other.Generation).Should().BeApproximately(cost.PrefillSeconds(contexts) - cost.PrefillSeconds([contexts[1]]) - cost.CacheTransferSeconds([contexts[0]], link), 1e-9);
        cost.CacheTransferSeconds([contexts[0]], link).Should().BeLessThan(cost.PrefillSeconds([contexts[0]]));
    }
}
