using Grains.Interfaces.Rl;

namespace Grains.Jobs;

/// <summary>
/// The final records of the latest trained samples, by sample id, up to <see cref="Capacity"/> of them (the
/// oldest steps' let go first). A trained sample's grain is collected soon after its training (a grain per
/// sample kept for minutes was most of the job's silo's memory); a later question to it (its record, a
/// repeated Trained) is answered from here.
/// </summary>
public sealed class TrainedSamples(int capacity)
{
    public int Capacity { get; } = capacity > 0 ? capacity : throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "at least one record is held");

    private readonly Dictionary<string, SampleRecord> records = [];
    private readonly Queue<string> order = new();

    /// <summary>A step's trained records; a step trained again (a replay) replaces its records.</summary>
    public void Add(IEnumerable<SampleRecord> trained)
    {
        foreach (var record in trained)
        {
            if (record.Start is null) continue;
            if (!records.ContainsKey(record.Start.Id)) order.Enqueue(record.Start.Id);
            records[record.Start.Id] = record;
        }
        while (order.Count > Capacity) records.Remove(order.Dequeue());
    }

    public SampleRecord? Find(string sampleId) => records.GetValueOrDefault(sampleId);

    /// <summary>The records kept of an iteration's samples, in sample order.</summary>
    public SampleRecord[] Of(int iteration) => [.. records.Values.Where(r => r.Start!.Iteration == iteration).OrderBy(r => r.Start!.Index)];

    public int Count => records.Count;
}
