namespace Grains;

public enum CheckpointProvider { Local, AzureBlob }

/// <summary>Where checkpoints and weights are kept (configuration section "Checkpoints").</summary>
public sealed class CheckpointOptions
{
    public const string Section = "Checkpoints";

    public CheckpointProvider Provider { get; set; } = CheckpointProvider.Local;

    /// <summary>Local provider: the directory; relative paths are relative to the working directory.</summary>
    public string Directory { get; set; } = "checkpoints";

    /// <summary>AzureBlob provider: the storage account's connection string.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>AzureBlob provider: the container that holds the checkpoints.</summary>
    public string Container { get; set; } = "checkpoints";

    /// <summary>Large objects move in chunks of this many bytes, never as one message or array.</summary>
    public int ChunkBytes { get; set; } = 4 * 1024 * 1024;
}
