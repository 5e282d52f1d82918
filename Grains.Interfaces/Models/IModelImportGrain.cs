namespace Grains.Interfaces.Models;

/// <summary>
/// A model's weights on their way into the checkpoint store (<c>actors import</c>; key: the object to write):
/// sent in chunks, in order, then committed as one object a job starts from with rl.initialWeights.
/// </summary>
public interface IModelImportGrain : IGrainWithStringKey
{
    /// <summary>The chunk at <paramref name="offset"/>; one sent again (a repeat after a lost answer) is ignored, one out of order refused.</summary>
    Task Append(long offset, byte[] chunk);

    /// <summary>Writes the <paramref name="length"/> bytes received as the object; its SHA-256.</summary>
    Task<string> Commit(long length);
}
