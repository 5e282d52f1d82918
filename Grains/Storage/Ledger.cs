namespace Grains.Storage;

/// <summary>
/// The ledger: grain state that outlives a silo (each sample's record, each job's run). It is kept where
/// the checkpoints are: a directory beside them (Local), or a container named after theirs (AzureBlob).
/// </summary>
public static class Ledger
{
    /// <summary>The grain storage provider's name.</summary>
    public const string Storage = "ledger";

    public static string Directory(CheckpointOptions checkpoints) => Path.Combine(checkpoints.Directory, "ledger");

    public static string Container(CheckpointOptions checkpoints) => $"{checkpoints.Container}-ledger";
}
