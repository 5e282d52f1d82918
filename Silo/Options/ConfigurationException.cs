namespace Silo.Options;

/// <summary>A configuration value that cannot work; the message starts with its key.</summary>
public sealed class ConfigurationException(string key, string problem) : Exception($"{key}: {problem}")
{
    public string Key { get; } = key;
}
