using Client.Chaos;
using FluentAssertions;
using Xunit;

namespace System.Tests;

/// <summary>The chaos soak's verdict, from readings made up so that the answer can be worked out by hand.</summary>
public sealed class SoakVerdictTests
{
    // Every half minute for 30 minutes, as the soak reads.
    private static IEnumerable<double> Minutes(double from = 0, double to = 30) =>
        Enumerable.Range(0, (int)((to - from) * 2) + 1).Select(i => from + i / 2.0);

    private static SoakReading Reading(double minute, int activations, params (string Silo, double MiB)[] silos) =>
        new(minute, (int)minute * 5, activations, silos.ToDictionary(s => s.Silo, s => s.MiB), silos.ToDictionary(s => s.Silo, s => s.MiB / 2));

    [Fact]
    public void A_saw_tooth_around_a_flat_level_is_no_growth_though_its_last_reading_is_a_peak()
    {
        // 150 and 250 MiB in turn, ending on 250: the last reading over the sixth minute's would say +67 %.
        var readings = Minutes().Select((m, i) => Reading(m, i % 2 == 0 ? 78_000 : 50_000, ("gen-3", i % 2 == 0 ? 250 : 150))).ToList();

        var growth = SoakVerdict.Growth(readings);

        growth.Should().ContainSingle().Which.Resident.Should().BeApproximately(0, 1e-9);
        SoakVerdict.Activations(readings).Should().BeApproximately(0, 1e-9);
        SoakVerdict.Healthy(growth, SoakVerdict.Activations(readings), lost: 0, failed: null).Should().BeTrue();
    }

    [Fact]
    public void A_process_growing_two_MiB_a_minute_fails_by_the_ratio_of_its_window_means()
    {
        // 190 + 2m MiB. Minutes 5-10 (5, 5.5 .. 9.5): mean minute 7.25, 204.5 MiB; the last five (25.5 .. 30):
        // mean minute 27.75, 245.5 MiB; 245.5 / 204.5 - 1 = 41 / 204.5.
        var readings = Minutes().Select(m => Reading(m, 60_000, ("gen-3", 190 + 2 * m))).ToList();

        var growth = SoakVerdict.Growth(readings).Should().ContainSingle().Subject;

        growth.Resident.Should().BeApproximately(41 / 204.5, 1e-9);
        growth.Heap.Should().BeApproximately(41 / 204.5, 1e-9);
        growth.Minutes.Should().Be(25);
        SoakVerdict.Healthy([growth], 0, lost: 0, failed: null).Should().BeFalse();
    }

    [Fact]
    public void Activations_rising_every_step_fail_by_the_ratio_of_the_last_ten_minutes_to_minutes_5_to_15()
    {
        // 1,000 an minute more: minutes 5-15 (5 .. 14.5) average minute 9.75; the last ten (20.5 .. 30), 25.25.
        var readings = Minutes().Select(m => Reading(m, (int)(50_000 + 1_000 * m), ("gen-3", 200))).ToList();

        var activations = SoakVerdict.Activations(readings);

        activations.Should().BeApproximately(75_250.0 / 59_750 - 1, 1e-9);
        SoakVerdict.Healthy(SoakVerdict.Growth(readings), activations, lost: 0, failed: null).Should().BeFalse();
    }

    [Fact]
    public void A_process_killed_early_is_left_out_and_its_replacement_is_judged_from_its_own_start()
    {
        // gen-0 lives 8 minutes; gen-0~1 starts at 8.5 and grows only in its first five minutes (start-up).
        var readings = Minutes().Select(m => m <= 8
            ? Reading(m, 60_000, ("gen-0", 300 + 10 * m), ("train", 200))
            : Reading(m, 60_000, ("gen-0~1", m < 13.5 ? 100 + 20 * (m - 8.5) : 200), ("train", 200))).ToList();

        var growth = SoakVerdict.Growth(readings);

        growth.Select(g => g.Silo).Should().Equal("gen-0~1", "train");
        growth.Should().OnlyContain(g => Math.Abs(g.Resident) < 1e-9);
    }

    [Fact]
    public void A_lost_sample_a_stopped_job_or_a_run_with_no_process_judged_is_not_healthy()
    {
        var flat = new[] { new SoakGrowth("gen-3", 25, 0, 0) };

        SoakVerdict.Healthy(flat, 0, lost: 1, failed: null).Should().BeFalse();
        SoakVerdict.Healthy(flat, 0, lost: 0, failed: "Failed: no free device").Should().BeFalse();
        SoakVerdict.Healthy([], 0, lost: 0, failed: null).Should().BeFalse();
        SoakVerdict.Healthy(flat, 0, lost: 0, failed: null).Should().BeTrue();
    }
}
