namespace Grains;

/// <summary>Where a silo keeps checkpoints (configuration section "Checkpoints").</summary>
public sealed class CheckpointOptions
{
    public const string Section = "Checkpoints";

    /// <summary>The local directory checkpoints go to; relative paths are relative to the working directory.</summary>
    public string Directory { get; set; } = "checkpoints";
}
