using Grains.Interfaces.Rl;

namespace Grains.Engines;

/// <summary>
/// A weights version that could not be read or did not fit the model (a corrupt or missing object, a
/// tensor of the wrong shape): the worker that met it stops admitting (<see cref="WorkerStoppedException"/>).
/// Its own type so that no other failure of a generation or an evaluation stops a worker.
/// </summary>
public sealed class WeightsLoadException(WeightsRef weights, Exception inner)
    : Exception($"weights version {weights.Version} ({weights.Object}) failed to load: {inner.Message}", inner)
{
    /// <summary>Runs a load, its failures to read or fit the object as this exception.</summary>
    public static async Task<T> Of<T>(WeightsRef weights, Func<Task<T>> load)
    {
        try
        {
            return await load();
        }
        catch (Exception e) when (IsLoadFailure(e))
        {
            throw new WeightsLoadException(weights, e);
        }
    }

    /// <summary>Runs a load that does not wait (deserializing on the device's thread), its failures as this exception.</summary>
    public static void Of(WeightsRef weights, Action load)
    {
        try
        {
            load();
        }
        catch (Exception e) when (IsLoadFailure(e))
        {
            throw new WeightsLoadException(weights, e);
        }
    }

    private static bool IsLoadFailure(Exception e) => e is InvalidDataException or IOException or ArgumentException or KeyNotFoundException;
}
