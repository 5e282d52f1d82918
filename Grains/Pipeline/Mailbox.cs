namespace Grains.Pipeline;

/// <summary>
/// Messages a grain receives before or after it asks for them: the first of <see cref="Put"/> and
/// <see cref="Take"/> for a key creates its slot, so nothing is lost whichever comes first.
/// </summary>
public sealed class Mailbox<TKey, TValue> where TKey : notnull
{
    private readonly Dictionary<TKey, TaskCompletionSource<TValue>> slots = [];

    public void Put(TKey key, TValue value)
    {
        if (!Slot(key).TrySetResult(value)) throw new InvalidOperationException($"{key} was delivered twice");
    }

    public async Task<TValue> Take(TKey key)
    {
        var value = await Slot(key).Task;
        slots.Remove(key);
        return value;
    }

    /// <summary>Fails every slot not yet delivered, and forgets the rest.</summary>
    public void Fail(Exception reason)
    {
        foreach (var slot in slots.Values) slot.TrySetException(reason);
        slots.Clear();
    }

    private TaskCompletionSource<TValue> Slot(TKey key)
    {
        if (!slots.TryGetValue(key, out var slot)) slots[key] = slot = new TaskCompletionSource<TValue>(TaskCreationOptions.RunContinuationsAsynchronously);
        return slot;
    }
}
