using System.Diagnostics;
using System.Security.Cryptography;
using Testing;

namespace Kernels.Tests;

/// <summary>infra/native/prepare-torchsharp.sh, run on a copy of the library exactly as NuGet ships it.</summary>
public sealed class NativePreparationTests : IDisposable
{
    private const string Library = "libLibTorchSharp.so";
    private const string Shim = "libios_base_library_init.so";
    private readonly string directory = Directory.CreateTempSubdirectory("actors-native-").FullName;

    private static string Shipped => Path.Combine(
        Environment.GetEnvironmentVariable("NUGET_PACKAGES") ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages"),
        "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", Library);

    private static bool SystemHasGlibcxx3432 => Run("bash", "-c", "grep -q GLIBCXX_3.4.32 $(/sbin/ldconfig -p | awk '/libstdc\\+\\+\\.so\\.6 .*x86-64/ { print $NF; exit }')").ExitCode == 0;

    [Fact]
    public void Prepared_library_needs_the_shim_binds_the_symbol_unversioned_and_requires_GLIBCXX_3_4_32_only_weakly()
    {
        var shippedHash = SHA256.HashData(File.ReadAllBytes(Shipped));
        var library = Path.Combine(directory, Library);
        File.Copy(Shipped, library);

        Prepare().ExitCode.Should().Be(0);
        Prepare().ExitCode.Should().Be(0, "preparing twice is harmless");

        SHA256.HashData(File.ReadAllBytes(Shipped)).Should().Equal(shippedHash, "the NuGet cache's copy is never written");
        if (SystemHasGlibcxx3432)
        {
            SHA256.HashData(File.ReadAllBytes(library)).Should().Equal(shippedHash, "a new enough libstdc++ needs no change");
            return;
        }
        var dynamic = Run("readelf", "-d", library).Output;
        dynamic.Split('\n').Count(l => l.Contains("(NEEDED)") && l.Contains($"[{Shim}]")).Should().Be(1);
        Run("readelf", "-V", library).Output.Should().MatchRegex(@"Name: GLIBCXX_3\.4\.32\s+Flags: WEAK");
        var symbols = Run("readelf", "--dyn-syms", "-W", library).Output.Split('\n');
        symbols.Should().Contain(l => l.TrimEnd().EndsWith(" _ZSt21ios_base_library_initv"), "the reference carries no version any more");
        symbols.Should().NotContain(l => l.Contains("_ZSt21ios_base_library_initv@"));
        Run("readelf", "--dyn-syms", "-W", Path.Combine(directory, Shim)).Output
            .Should().MatchRegex(@"FUNC\s+GLOBAL\s+DEFAULT\s+\d+\s+_ZSt21ios_base_library_initv");
    }

    private ProcessResult Prepare() => Run("bash", Path.Combine(RepositoryPaths.Root, "infra", "native", "prepare-torchsharp.sh"), directory);

    private static ProcessResult Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return new ProcessResult(process.ExitCode, output.Result + error);
    }

    private sealed record ProcessResult(int ExitCode, string Output);

    public void Dispose() => Directory.Delete(directory, recursive: true);
}
