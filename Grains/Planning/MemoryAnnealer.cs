using System.Diagnostics;

namespace Grains.Planning;

/// <summary>
/// Lowers a plan's peak activation memory without lengthening it: simulated annealing over each device's
/// sequence of pass kinds (actor forward, actor backward, critic forward, critic backward), in which the
/// k-th pass of a kind on a device is micro-batch k's at that device's stage (each stage runs its passes in
/// micro-batch order, which loses nothing, as <see cref="ConstraintRefiner"/> argues). A move swaps two
/// passes of a device or moves one a few places, or (given shares of the moves) moves a pass across the point
/// where a device reaches its peak, or a micro-batch's pass by the same few places on a run of neighbouring
/// devices; a move that makes the plan longer than the
/// makespan it was given is refused. The energy is the sum of the devices' peaks plus P times the largest: every device's peak
/// counts, so the search can lower the middle devices that an energy of the largest alone would not see
/// move (the representation and the summed energy are FlexFusion's memory optimizer's; the runs are ours).
/// Measured in the planner (60 s on 2 cores, two chains): 8/4/32/16 at its makespan bound 708 with 17.75,
/// 8/8/32/32 at 702 with 17.55 (FlexFusion's published plans: 19.70 and 20.50).
/// </summary>
public sealed class MemoryAnnealer
{
    private const byte ActorF = 0, ActorB = 1, CriticF = 2, CriticB = 3;

    private readonly PipelineProblem problem;
    private readonly Random random;
    private readonly double runShare, peakShare;
    // The task index of the k-th pass of each kind on each device: [device][kind][k].
    private readonly int[][][] taskOf;
    private readonly int[] criticStage, replica;
    private readonly double[] duration, memory;
    // The accepted plan's pass starts and ends by kind, then (micro-batch, stage); a trial's, valid where
    // its stamp is the trial's number (so a trial need not clear what it will decode again).
    private readonly double[][] starts, ends, trialStarts, trialEnds;
    private readonly int[][] stamps;
    private int trials;
    // What the last trial decoded, to accept: kind and slot of each pass.
    private readonly byte[] decodedKind;
    private readonly int[] decodedSlot;
    private int decoded;
    // The accepted plan per device and position: start, memory held and the device's peak so far after it,
    // and how many passes of each kind it has run (16 bits each); a trial's, written from where it restarts.
    private readonly Positions accepted, tried;
    private readonly double[] free, held, peak, left;
    private readonly int[] next, done, restart;
    // The changes of the last move, to undo: device, positions, and whether two passes were swapped.
    private readonly List<(int Device, int From, int To, bool Swap)> moved = [];
    private readonly double work;

    private sealed class Positions(int devices, int length)
    {
        public readonly double[][] Start = New<double>(devices, length), Held = New<double>(devices, length), Peak = New<double>(devices, length);
        public readonly long[][] Done = New<long>(devices, length);

        private static T[][] New<T>(int devices, int length) => [.. Enumerable.Range(0, devices).Select(_ => new T[length])];

        public void CopySuffix(Positions to, int device, int from)
        {
            var n = Start[device].Length - from;
            Array.Copy(Start[device], from, to.Start[device], from, n);
            Array.Copy(Held[device], from, to.Held[device], from, n);
            Array.Copy(Peak[device], from, to.Peak[device], from, n);
            Array.Copy(Done[device], from, to.Done[device], from, n);
        }
    }

    /// <param name="runShare">The share of the moves not across a peak that move a pass on a run of devices rather than on one.</param>
    /// <param name="peakShare">The share of moves that move a pass across the point where a device reaches its peak. A fifth: at
    /// 0.3 the other moves were too few on the 16-device plans (in the planner, 60 s, once each: 16/16/32/32 at 32.20 and
    /// 16/8/32/16 at 31.64 against 29.56 and 28.24 at 0.2, and 31.84, 29.64 at 0.15; 8/4/32/16 17.75 at 0.2, 19.55 at 0.1).</param>
    public MemoryAnnealer(PipelineProblem problem, Random random, double runShare = 0.5, double peakShare = 0.2)
    {
        if (runShare is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(runShare), runShare, "the share of moves on runs of devices must be between 0 and 1");
        if (peakShare is < 0 or > 1) throw new ArgumentOutOfRangeException(nameof(peakShare), peakShare, "the share of moves across a device's peak must be between 0 and 1");
        this.problem = problem;
        this.random = random;
        this.runShare = runShare;
        this.peakShare = peakShare;
        var p = problem.Devices;
        taskOf = Enumerable.Range(0, p).Select(_ => new[] { new int[problem.M0], new int[problem.M0], new int[problem.M1], new int[problem.M1] }).ToArray();
        foreach (var t in problem.Tasks) taskOf[t.Device][KindOf(t)][t.MicroBatch] = t.Index;
        criticStage = [.. Enumerable.Range(0, p).Select(problem.CriticStageOn)];
        replica = [.. Enumerable.Range(0, p).Select(d => d / problem.Pp1)];
        duration = [problem.F0, 2 * problem.F0, problem.F1, 2 * problem.F1];
        memory = [problem.Mem0, -problem.Mem0, problem.Mem1, -problem.Mem1];
        int actorSlots = problem.M0 * p, criticSlots = problem.Replicas * problem.M1 * problem.Pp1;
        double[][] Slots() => [new double[actorSlots], new double[actorSlots], new double[criticSlots], new double[criticSlots]];
        (starts, ends, trialStarts, trialEnds) = (Slots(), Slots(), Slots(), Slots());
        stamps = [new int[actorSlots], new int[actorSlots], new int[criticSlots], new int[criticSlots]];
        var length = 2 * (problem.M0 + problem.M1);
        (decodedKind, decodedSlot) = (new byte[length * p], new int[length * p]);
        (accepted, tried) = (new Positions(p, length), new Positions(p, length));
        (free, held, peak, left) = (new double[p], new double[p], new double[p], new double[p]);
        (next, done, restart) = (new int[p], new int[p * 4], new int[p]);
        work = 3 * (problem.M0 * problem.F0 + problem.M1 * problem.F1);
    }

    /// <summary>
    /// The leanest orders found within <paramref name="makespan"/>, starting from <paramref name="orders"/>,
    /// until <paramref name="until"/> on <paramref name="clock"/> or <paramref name="maxMoves"/> moves (the
    /// temperature falls with the moves where they are bounded, else with the time: a bound of moves no
    /// search reaches would keep it hot to the end, as a planner's share of an unbounded budget once did,
    /// which left 8/4/16/8 at 21.70 where the same time cooling reaches 15.75), or as soon as the leanest
    /// holds at most <paramref name="goal"/>. Where the start, its stages put in micro-batch order, is longer
    /// than the makespan, the start itself comes back.
    /// </summary>
    public (int[][] Orders, double Peak, long Moves) Lower(int[][] orders, double makespan, Stopwatch clock, TimeSpan until, long? maxMoves = null, double goal = 0)
    {
        var current = orders.Select(o => o.Select(t => KindOf(problem.Tasks[t])).ToArray()).ToArray();
        if (double.IsInfinity(Decode(current, makespan, double.PositiveInfinity, double.NegativeInfinity))) return (orders, PeakOf(orders), 0);
        Accept();
        var energy = Energy(out var bestPeak, out var bestSum);
        var best = current.Select(k => (byte[])k.Clone()).ToArray();
        var (hot, cold) = (Math.Max(Math.Min(problem.Mem0, problem.Mem1), 1e-3), 0.01);
        var (started, span) = (clock.Elapsed, until - clock.Elapsed);
        var temperature = hot;
        long moves = 0;
        while (moves < (maxMoves ?? long.MaxValue) && bestPeak > goal + 1e-9)
        {
            if ((moves & 255) == 0)
            {
                // Bounded by moves, the temperature follows the moves alone, so the same seed gives the same plan.
                var elapsed = span <= TimeSpan.Zero ? 1 : (clock.Elapsed - started) / span;
                if (elapsed >= 1) break;
                var progress = maxMoves is { } bound ? (double)moves / bound : elapsed;
                temperature = hot * Math.Pow(cold, progress);
            }
            moves++;
            var since = random.NextDouble() < peakShare ? MoveAcrossPeak(current) : random.NextDouble() < runShare ? MoveOnRun(current) : MoveOnDevice(current);
            if (since is not { } from) continue;
            // Drawn before decoding, so a decode can stop as soon as its peaks pass what would be accepted.
            var limit = energy - temperature * Math.Log(1 - random.NextDouble());
            if (double.IsFinite(Decode(current, makespan, limit, from)) && Energy(out var largest, out var sum) is var e && e <= limit)
            {
                Accept();
                energy = e;
                if (largest < bestPeak - 1e-9 || (largest < bestPeak + 1e-9 && sum < bestSum - 1e-9))
                {
                    (bestPeak, bestSum) = (largest, sum);
                    best = current.Select(k => (byte[])k.Clone()).ToArray();
                }
            }
            else
            {
                for (var i = moved.Count - 1; i >= 0; i--) Apply(current[moved[i].Device], moved[i].To, moved[i].From, moved[i].Swap);
            }
        }
        var lowered = best.Select((kinds, d) =>
        {
            var seen = new int[4];
            return kinds.Select(k => taskOf[d][k][seen[k]++]).ToArray();
        }).ToArray();
        return (lowered, bestPeak, moves);
    }

    /// <summary>
    /// Swaps two passes of one device (neighbours, or any two) or moves one up to a dozen places; the
    /// accepted start of the first position it changed, or null when it changed nothing.
    /// </summary>
    private double? MoveOnDevice(byte[][] current)
    {
        moved.Clear();
        var device = random.Next(current.Length);
        var kinds = current[device];
        if (kinds.Length < 2) return null;
        var (from, swap) = (random.Next(kinds.Length), random.Next(3) != 0);
        var to = swap ? (random.Next(2) == 0 ? Math.Min(from + 1, kinds.Length - 1) : random.Next(kinds.Length)) : Math.Clamp(from + random.Next(-12, 13), 0, kinds.Length - 1);
        if (kinds[from] == kinds[to]) return null;
        Apply(kinds, from, to, swap);
        moved.Add((device, from, to, swap));
        return accepted.Start[device][Math.Min(from, to)];
    }

    /// <summary>
    /// Moves the k-th pass of one kind by the same one to three places on a run of two or more neighbouring
    /// devices (to the end of the pipeline in most moves): a micro-batch's pass and the same pass of it at the next stages, which keep their
    /// places relative to each other, where a move on one device alone leaves its neighbours waiting and the
    /// plan longer (8/8/16/16 at 366, 10 s from the same start, six chains: 16.85-17.80 with these moves,
    /// 20.50-22.55 without). The run stops at a device where the move would change nothing. The earliest accepted start
    /// of a changed position, or null when it changed nothing.
    /// </summary>
    private double? MoveOnRun(byte[][] current)
    {
        moved.Clear();
        var first = random.Next(current.Length);
        var kinds = current[first];
        if (kinds.Length < 2) return null;
        var at = random.Next(kinds.Length);
        var kind = kinds[at];
        var k = 0;
        for (var i = 0; i < at; i++) if (kinds[i] == kind) k++;
        var (shift, direction, length) = (random.Next(1, 4) * (random.Next(2) == 0 ? 1 : -1), random.Next(2) == 0 ? 1 : -1, 1 + random.Next(2 * current.Length));
        var since = double.PositiveInfinity;
        for (var d = first; d >= 0 && d < current.Length && Math.Abs(d - first) <= length; d += direction)
        {
            var from = KthOf(current[d], kind, k);
            if (from < 0) break;
            var to = Math.Clamp(from + shift, 0, current[d].Length - 1);
            if (AllOf(current[d], kind, Math.Min(from, to), Math.Max(from, to))) break;
            Apply(current[d], from, to, swap: false);
            moved.Add((d, from, to, false));
            since = Math.Min(since, accepted.Start[d][Math.Min(from, to)]);
        }
        return moved.Count == 0 ? null : since;
    }

    /// <summary>
    /// Moves a pass of one device across the first point where it reaches its peak, by up to a dozen places: a
    /// forward from at or before it to after it, or a backward from after it to at or before it, the only
    /// single moves that lower what the device holds there. Uniform moves rarely land there (a device runs
    /// hundreds of passes, its peak is one point); these found 8/4/32/16 at 708 with 17.75-19.65 in 50 s
    /// from a plan at 21.50 where uniform moves stayed at 21.50-23.45, and 16/8/64/32 at 618 with 33.28-34.80
    /// where they stayed at 39.72-41.16. The device is the one with the largest peak in half the moves, any
    /// in the rest (the energy counts every device's). The accepted start of the first position it changed,
    /// or null when it changed nothing.
    /// </summary>
    private double? MoveAcrossPeak(byte[][] current)
    {
        moved.Clear();
        var device = random.Next(2) == 0 ? LargestPeak(current) : random.Next(current.Length);
        var kinds = current[device];
        var (last, reach) = (kinds.Length - 1, 12);
        var peakAt = 0;
        while (peakAt < last && accepted.Held[device][peakAt] < accepted.Peak[device][last] - 1e-9) peakAt++;
        var forward = random.Next(2) == 0;
        var (from, to) = forward
            ? (Math.Max(0, peakAt - random.Next(reach)), Math.Min(last, peakAt + 1 + random.Next(reach)))
            : (Math.Min(last, peakAt + 1 + random.Next(reach)), Math.Max(0, peakAt - random.Next(reach)));
        if (from == to || IsForward(kinds[from]) != forward || AllOf(kinds, kinds[from], Math.Min(from, to), Math.Max(from, to))) return null;
        Apply(kinds, from, to, swap: false);
        moved.Add((device, from, to, false));
        return accepted.Start[device][Math.Min(from, to)];
    }

    /// <summary>The device with the largest peak in the accepted plan (the first of equals).</summary>
    private int LargestPeak(byte[][] current)
    {
        var device = 0;
        for (var d = 1; d < current.Length; d++)
        {
            if (accepted.Peak[d][current[d].Length - 1] > accepted.Peak[device][current[device].Length - 1] + 1e-9) device = d;
        }
        return device;
    }

    private static bool IsForward(byte kind) => kind is ActorF or CriticF;

    /// <summary>Whether positions <paramref name="from"/> to <paramref name="to"/> all hold passes of one kind (moving one among them changes nothing).</summary>
    private static bool AllOf(byte[] kinds, byte kind, int from, int to)
    {
        for (var i = from; i <= to; i++)
        {
            if (kinds[i] != kind) return false;
        }
        return true;
    }

    /// <summary>The position of the k-th pass of a kind in a device's sequence, or -1.</summary>
    private static int KthOf(byte[] kinds, byte kind, int k)
    {
        for (var i = 0; i < kinds.Length; i++)
        {
            if (kinds[i] == kind && k-- == 0) return i;
        }
        return -1;
    }

    private static byte KindOf(PipelineTask t) => (byte)((t.Model == PipelineModel.Actor ? ActorF : CriticF) + (t.Kind == PassKind.B ? 1 : 0));

    private static void Apply(byte[] kinds, int from, int to, bool swap)
    {
        if (swap)
        {
            (kinds[from], kinds[to]) = (kinds[to], kinds[from]);
            return;
        }
        var kind = kinds[from];
        if (from < to) Array.Copy(kinds, from + 1, kinds, from, to - from);
        else Array.Copy(kinds, to, kinds, to + 1, from - to);
        kinds[to] = kind;
    }

    private double Energy(out double largest, out double sum)
    {
        (largest, sum) = (peak.Max(), peak.Sum());
        return sum + peak.Length * largest;
    }

    private double PeakOf(int[][] orders) => orders.Max(o => ScheduleDecoder.PeakMemory(o.Select(t => problem.Tasks[t])));

    /// <summary>
    /// Decodes as <see cref="ScheduleDecoder"/> does, filling the devices' peaks; the makespan, or +infinity
    /// when the kinds deadlock or a device cannot end by <paramref name="makespan"/>, or NaN as soon as the
    /// peaks' energy passes <paramref name="limit"/> (peaks only grow as the decode goes on). After a move
    /// that changed devices' orders from positions that started at <paramref name="since"/> or later in the
    /// accepted plan, only the passes that started at or after <paramref name="since"/> are decoded again
    /// (all of them where it is -infinity): every pass that started before it waited only on passes that
    /// started before it too, so it is where it was.
    /// </summary>
    private double Decode(byte[][] kinds, double makespan, double limit, double since)
    {
        trials++;
        decoded = 0;
        int p = kinds.Length, pp1 = problem.Pp1, remaining = 0;
        double end = 0, sum = 0, largest = 0;
        for (var d = 0; d < p; d++)
        {
            var from = double.IsNegativeInfinity(since) ? 0 : FirstStartingAtOrAfter(accepted.Start[d], since);
            (restart[d], next[d]) = (from, from);
            var counts = from == 0 ? 0 : accepted.Done[d][from - 1];
            for (var k = 0; k < 4; k++) done[d * 4 + k] = (int)((counts >> (16 * k)) & 0xFFFF);
            (free[d], held[d], peak[d]) = from == 0 ? (0, 0, 0)
                : (accepted.Start[d][from - 1] + duration[kinds[d][from - 1]], accepted.Held[d][from - 1], accepted.Peak[d][from - 1]);
            left[d] = work;
            for (var k = 0; k < 4; k++) left[d] -= done[d * 4 + k] * duration[k];
            remaining += kinds[d].Length - from;
            sum += peak[d];
            largest = Math.Max(largest, peak[d]);
            end = Math.Max(end, free[d]);
        }
        if (sum + p * largest > limit) return double.NaN;
        while (remaining > 0)
        {
            var progressed = false;
            for (var d = 0; d < p; d++)
            {
                var sequence = kinds[d];
                var stage = criticStage[d];
                while (next[d] < sequence.Length)
                {
                    var kind = sequence[next[d]];
                    var slot = Slot(d, kind, done[d * 4 + kind]);
                    var ready = kind switch
                    {
                        ActorF => d == 0 ? 0 : EndOf(ActorF, slot - 1, since),
                        ActorB => d == p - 1 ? EndOf(ActorF, slot, since) : EndOf(ActorB, slot + 1, since),
                        CriticF => stage == 0 ? 0 : EndOf(CriticF, slot - 1, since),
                        _ => stage == pp1 - 1 ? EndOf(CriticF, slot, since) : EndOf(CriticB, slot + 1, since),
                    };
                    if (ready < 0) break;
                    var start = Math.Max(free[d], ready);
                    var finish = start + duration[kind];
                    left[d] -= duration[kind];
                    if (finish + left[d] > makespan + 1e-9) return double.PositiveInfinity;
                    (trialStarts[kind][slot], trialEnds[kind][slot], stamps[kind][slot]) = (start, finish, trials);
                    (decodedKind[decoded], decodedSlot[decoded]) = (kind, slot);
                    decoded++;
                    free[d] = finish;
                    end = Math.Max(end, finish);
                    held[d] += memory[kind];
                    if (held[d] > peak[d])
                    {
                        sum += held[d] - peak[d];
                        peak[d] = held[d];
                        largest = Math.Max(largest, peak[d]);
                        if (sum + p * largest > limit) return double.NaN;
                    }
                    var i = next[d]++;
                    done[d * 4 + kind]++;
                    (tried.Start[d][i], tried.Held[d][i], tried.Peak[d][i]) = (start, held[d], peak[d]);
                    tried.Done[d][i] = (long)(uint)done[d * 4] | ((long)(uint)done[d * 4 + 1] << 16) | ((long)(uint)done[d * 4 + 2] << 32) | ((long)(uint)done[d * 4 + 3] << 48);
                    remaining--;
                    progressed = true;
                }
            }
            if (!progressed) return double.PositiveInfinity;
        }
        return end;
    }

    /// <summary>
    /// A pass's end in the trial: decoded in it, or in the accepted plan where it started before
    /// <paramref name="since"/> (so is where it was); -1 while not yet known.
    /// </summary>
    private double EndOf(byte kind, int slot, double since) =>
        stamps[kind][slot] == trials ? trialEnds[kind][slot] : starts[kind][slot] < since ? ends[kind][slot] : -1;

    /// <summary>Makes the last decode the accepted plan.</summary>
    private void Accept()
    {
        for (var i = 0; i < decoded; i++)
        {
            var (kind, slot) = (decodedKind[i], decodedSlot[i]);
            (starts[kind][slot], ends[kind][slot]) = (trialStarts[kind][slot], trialEnds[kind][slot]);
        }
        for (var d = 0; d < restart.Length; d++) tried.CopySuffix(accepted, d, restart[d]);
    }

    /// <summary>Where on device d the k-th pass of a kind keeps its end: by micro-batch, then stage.</summary>
    private int Slot(int d, byte kind, int k) => kind <= ActorB
        ? k * free.Length + d
        : (replica[d] * problem.M1 + k) * problem.Pp1 + criticStage[d];

    /// <summary>The first position whose start is at or after <paramref name="time"/> (starts rise strictly along a device's order).</summary>
    private static int FirstStartingAtOrAfter(double[] starts, double time)
    {
        var i = Array.BinarySearch(starts, time);
        return i >= 0 ? i : ~i;
    }
}
