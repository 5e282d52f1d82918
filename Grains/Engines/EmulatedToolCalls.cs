using System.Diagnostics;
using Grains.Data;
using Grains.Interfaces.Rl;
using Kernels.Emulation;

namespace Grains.Engines;

/// <summary>
/// The tool calls of the samples on one emulated generation worker. Each sample's calls are drawn from its seed
/// (<see cref="ToolCallPlan"/>), so any worker draws the same; the batch runs a sample up to its next call (a
/// segment of its response), the sample then waits outside the batch for the call's latency (its KV cache kept
/// on the device) and comes back with the result's tokens appended. A sample handed on while it waits is asked
/// again where it lands.
/// </summary>
public sealed class EmulatedToolCalls(ToolCallPlan plan, double timeScale)
{
    private readonly Stopwatch wall = Stopwatch.StartNew();
    private readonly Dictionary<string, Sample> samples = [];
    /// <summary>Samples waiting for an answer: the sequence as it stood at the call, and the wall second the answer comes.</summary>
    private readonly Dictionary<string, (EmulatedSequence At, double AnswerAt)> waiting = [];

    private sealed class Sample(int length, Queue<ToolCallPlan.Call> calls, ToolTurns turns)
    {
        public int Length { get; } = length;
        public Queue<ToolCallPlan.Call> Calls { get; } = calls;
        public ToolTurns Turns { get; set; } = turns;
        /// <summary>Where the sample's current segment ends: its next call, or its end.</summary>
        public int Target => Calls.Count > 0 ? Calls.Peek().Position : Length;
    }

    public int WaitingCount => waiting.Count;

    public bool IsWaiting(string id) => waiting.ContainsKey(id);

    /// <summary>A waiting sample's sequence as it stood at its call.</summary>
    public EmulatedSequence Waiting(string id) => waiting[id].At;

    public IEnumerable<EmulatedSequence> WaitingSequences => waiting.Values.Select(w => w.At);

    /// <summary>
    /// Draws a sample's calls (those its turns have not made yet) for a response of <paramref name="modelTokens"/> of
    /// the model's own: its whole length, results included.
    /// </summary>
    public int Admit(GenerationWork work, int modelTokens)
    {
        var (calls, length) = plan.Draw(Seeds.Mix(work.Seed, 0x7001), modelTokens, work.MaxNewTokens);
        var turns = work.Turns ?? ToolTurns.None;
        samples[work.SampleId] = new Sample(length, new Queue<ToolCallPlan.Call>(calls.Skip(turns.Calls)), turns);
        return length;
    }

    /// <summary>A sample's whole length, its tools' results included.</summary>
    public int Length(string id) => samples[id].Length;

    /// <summary>Where a sample's current segment ends (the position of its next call, or its length).</summary>
    public int Target(string id) => samples[id].Target;

    /// <summary>Whether a sequence that reached its segment's end stands at a call rather than at its end.</summary>
    public bool AtCall(EmulatedSequence sequence) => samples.TryGetValue(sequence.Id, out var s) && sequence.Generated < s.Length;

    /// <summary>The sample makes its next call: it waits for the call's drawn latency (emulated seconds, so that over the time scale in wall time).</summary>
    public void Call(EmulatedSequence at) => waiting[at.Id] = (at, wall.Elapsed.TotalSeconds + samples[at.Id].Calls.Peek().Seconds / timeScale);

    public ToolTurns? Turns(string id) => samples.TryGetValue(id, out var s) ? s.Turns : null;

    /// <summary>Wall seconds until the first answer comes (0 if one has).</summary>
    public double UntilFirstAnswer() => waiting.Count == 0 ? 0 : Math.Max(0, waiting.Values.Min(w => w.AnswerAt) - wall.Elapsed.TotalSeconds);

    /// <summary>
    /// The samples whose answer has come, earliest first: each with the result's tokens appended, to resume as a
    /// sequence whose KV cache stayed on the device (null: the result took it to its length, and it has ended).
    /// <paramref name="fits"/> says whether the batch has room for it; one that does not fit waits on.
    /// </summary>
    public List<(string Id, EmulatedSequence? Resume)> Answered(Func<EmulatedSequence, bool> fits)
    {
        var back = new List<(string, EmulatedSequence?)>();
        var now = wall.Elapsed.TotalSeconds;
        foreach (var (id, (at, _)) in waiting.Where(w => w.Value.AnswerAt <= now).OrderBy(w => w.Value.AnswerAt).ToArray())
        {
            var sample = samples[id];
            var generated = Math.Min(sample.Length, at.Generated + plan.ResultTokens);
            // Its next segment: up to its next call (after this one's result), or its end.
            var next = sample.Calls.Skip(1).Select(c => c.Position).DefaultIfEmpty(sample.Length).First();
            var resume = at with { Generated = generated, TargetLength = Math.Max(next, generated), CacheKept = true, CacheCarried = false };
            if (generated < sample.Length && resume.TargetLength > generated && !fits(resume)) continue;
            var call = sample.Calls.Peek();
            sample.Calls.Dequeue();
            sample.Turns = sample.Turns with { Calls = sample.Turns.Calls + 1, Seconds = sample.Turns.Seconds + call.Seconds };
            waiting.Remove(id);
            if (generated >= sample.Length) back.Add((id, null));
            // A next call right at the result's end: the sample asks again without re-entering the batch.
            else if (resume.TargetLength == generated) Call(resume);
            else back.Add((id, resume));
        }
        return back;
    }

    /// <summary>
    /// A sample leaves this worker: its calls are forgotten (drawn again where it lands, past those its turns
    /// made); a waiting one has not had its answer, so its turns do not count that call.
    /// </summary>
    public void Leave(string id)
    {
        samples.Remove(id);
        waiting.Remove(id);
    }
}
