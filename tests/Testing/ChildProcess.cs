using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Testing;

/// <summary>A .NET program of this repository run as a real child process, its output kept for diagnostics.</summary>
public sealed class ChildProcess : IDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly StringBuilder standardOutput = new();

    /// <param name="environment">Variables set for it beside this process's own (secrets a program reads from its environment).</param>
    public ChildProcess(string assembly, IEnumerable<string> arguments, string workingDirectory, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = workingDirectory,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        start.ArgumentList.Add(assembly);
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {assembly}");
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output)
            {
                output.AppendLine(e.Data);
                standardOutput.AppendLine(e.Data);
            }
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public bool HasExited => process.HasExited;

    /// <summary>The exit code, once <see cref="HasExited"/>.</summary>
    public int ExitCode => process.ExitCode;

    /// <summary>Standard output and error, interleaved as they came.</summary>
    public string Output
    {
        get { lock (output) return output.ToString(); }
    }

    /// <summary>Standard output alone: what a program prints for other programs to read.</summary>
    public string StandardOutput
    {
        get { lock (output) return standardOutput.ToString(); }
    }

    /// <summary>Runs a program to its end; returns its exit code, its standard output, and everything it printed.</summary>
    public static async Task<(int ExitCode, string StandardOutput, string Output)> RunAsync(string assembly, IEnumerable<string> arguments, string workingDirectory, TimeSpan timeout,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        using var child = new ChildProcess(assembly, arguments, workingDirectory, environment);
        using var cancel = new CancellationTokenSource(timeout);
        try
        {
            await child.process.WaitForExitAsync(cancel.Token);
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            // What it printed says where it was (measured once in CI: a chaos run past its 10 minutes, its output lost).
            throw new TimeoutException($"{Path.GetFileName(assembly)} ran past {timeout.TotalMinutes:F1} minutes; what it printed:{Environment.NewLine}{child.Output}");
        }
        child.process.WaitForExit(); // drains the redirected output
        return (child.process.ExitCode, child.StandardOutput, child.Output);
    }

    /// <summary>SIGTERM, as an admin's stop or a container runtime sends it: the process may shut down in its own way.</summary>
    public void Terminate()
    {
        if (process.HasExited) return;
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString()]) { UseShellExecute = false })!;
        kill.WaitForExit();
    }

    /// <summary>Whether the process ends within <paramref name="patience"/>.</summary>
    public async Task<bool> ExitsWithin(TimeSpan patience)
    {
        using var cancel = new CancellationTokenSource(patience);
        try
        {
            await process.WaitForExitAsync(cancel.Token);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    /// <summary>SIGKILL: the process gets no chance to leave the cluster gracefully.</summary>
    public void Kill()
    {
        if (!process.HasExited) process.Kill(entireProcessTree: true);
        process.WaitForExit();
    }

    public void Dispose()
    {
        Kill();
        process.Dispose();
    }

    /// <summary>A TCP port free on loopback right now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
