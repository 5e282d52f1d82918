namespace Testing;

public static class RepositoryPaths
{
    /// <summary>The repository's root: the nearest folder above the test binaries that holds Actors.sln.</summary>
    public static string Root { get; } = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no Actors.sln above {AppContext.BaseDirectory}");
    }
}
