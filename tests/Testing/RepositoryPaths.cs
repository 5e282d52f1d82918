namespace Testing;

public static class RepositoryPaths
{
    /// <summary>The repository's root: the nearest folder above the test binaries that holds Actors.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration these tests were built in (Debug or Release).</summary>
    public static string Configuration { get; } = new DirectoryInfo(Path.TrimEndingDirectorySeparator(AppContext.BaseDirectory)).Parent!.Name;

    /// <summary>The path of a project's built assembly, in the same configuration as the tests.</summary>
    public static string BuiltAssembly(string project, string assembly) =>
        Path.Combine(Root, project, "bin", Configuration, "net10.0", assembly);

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"no Actors.sln above {AppContext.BaseDirectory}");
    }
}
