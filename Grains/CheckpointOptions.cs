namespace Grains;

public enum CheckpointProvider { Local, AzureBlob }

/// <summary>Where the ledger (sample records, job runs) is kept: with the checkpoints, or in memory (lost with the silo: for benchmarks that measure scheduling alone).</summary>
public enum LedgerPlace { Store, Memory }

/// <summary>Where checkpoints and weights are kept (configuration section "Checkpoints").</summary>
public sealed class CheckpointOptions
{
    public const string Section = "Checkpoints";

    /// <summary>Local (a directory) or AzureBlob.</summary>
    public CheckpointProvider Provider { get; set; } = CheckpointProvider.Local;

    /// <summary>Local provider: the directory; relative paths are relative to the working directory.</summary>
    public string Directory { get; set; } = "checkpoints";

    /// <summary>AzureBlob provider: the storage account's connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>AzureBlob provider: the container that holds the checkpoints.</summary>
    public string Container { get; set; } = "checkpoints";

    /// <summary>Store: the ledger survives a silo's loss (a directory beside the checkpoints, or a blob container named after theirs).</summary>
    public LedgerPlace Ledger { get; set; } = LedgerPlace.Store;

    /// <summary>
    /// The datacenter the store is in (default: this silo's). A silo in another one reads trained weights
    /// through its datacenter's relay: each version crosses the link between the two once.
    /// </summary>
    public string? Datacenter { get; set; }

    /// <summary>Large objects move in chunks of this many bytes, never as one message or array.</summary>
    public int ChunkBytes { get; set; } = 4 * 1024 * 1024;
}
