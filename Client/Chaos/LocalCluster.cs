using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Client.Commands;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Interfaces.Jobs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Silo.Options;

namespace Client.Chaos;

/// <summary>
/// A cluster of real processes on loopback, as the chaos benchmark needs one: Azurite (membership,
/// checkpoints and ledger in Azure Table and Blob storage), silo processes with mutual TLS, each logging
/// to its own file, and the supervisor's two moves: SIGKILL one, start another in its place.
/// </summary>
public sealed class LocalCluster : IAsyncDisposable
{
    // Azurite's well-known development account: public, accepted by no real service.
    private const string Account = "devstoreaccount1";
    private const string Key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    private readonly Process azurite;
    private readonly Dictionary<string, (Process Process, string Roles, string Devices)> silos = [];
    private readonly (int Blob, int Queue, int Table) ports;

    private LocalCluster(string root, string work, string certificate, Process azurite, (int, int, int) ports) =>
        (Root, Work, Certificate, this.azurite, this.ports) = (root, work, certificate, azurite, ports);

    public string Root { get; }
    public string Work { get; }
    public string Certificate { get; }

    public string ConnectionString =>
        $"DefaultEndpointsProtocol=http;AccountName={Account};AccountKey={Key};BlobEndpoint=http://127.0.0.1:{ports.Blob}/{Account};"
        + $"QueueEndpoint=http://127.0.0.1:{ports.Queue}/{Account};TableEndpoint=http://127.0.0.1:{ports.Table}/{Account};";

    /// <summary>Starts Azurite (installed by infra/setup.sh) and waits until its table endpoint answers.</summary>
    public static async Task<LocalCluster> StartAsync(string work, string certificate)
    {
        var root = RepositoryRoot();
        var executable = Path.Combine(root, "infra", "node_modules", ".bin", "azurite");
        if (!File.Exists(executable)) throw new InvalidOperationException($"Azurite is not installed at {executable}: run infra/setup.sh");
        var ports = (FreePort(), FreePort(), FreePort());
        var azurite = Start(executable, Path.Combine(work, "azurite.log"), ["--skipApiVersionCheck", "--inMemoryPersistence",
            "--blobHost", "127.0.0.1", "--blobPort", ports.Item1.ToString(), "--queueHost", "127.0.0.1", "--queuePort", ports.Item2.ToString(),
            "--tableHost", "127.0.0.1", "--tablePort", ports.Item3.ToString()]);
        for (var i = 0; i < 600 && !Listening(ports.Item3); i++) await Task.Delay(100);
        if (!Listening(ports.Item3)) throw new InvalidOperationException($"Azurite did not start (see {work}/azurite.log)");
        return new LocalCluster(root, work, certificate, azurite, ports);
    }

    /// <summary>
    /// The silo processes of a chaos cluster: two generation silos, one inference, two training (2 devices
    /// each but inference), enough for a job's grains and for a lost silo's grains to move.
    /// </summary>
    public static readonly (string Name, string Roles, string Devices)[] Layout =
    [
        ("gen-a", SiloRoles.Generation, "gpu:0-1"), ("gen-b", SiloRoles.Generation, "gpu:0-1"), ("infer", SiloRoles.Inference, "cpu"),
        ("train-a", SiloRoles.Training, "gpu:0-1"), ("train-b", SiloRoles.Training, "gpu:0-1"),
    ];

    /// <summary>
    /// The layout a job runs on: <see cref="Layout"/> for a job on real devices; for an emulated one, a silo
    /// per machine of <paramref name="machineDevices"/> devices of the job's class, as many as its generation
    /// workers and its trainers need, and one inference silo. With no <paramref name="spares"/>, no device is
    /// spare: a lost silo's grains wait for its replacement, and meanwhile the job goes on with the others.
    /// Each spare adds a whole machine for generation, one for training and an inference silo (scoring runs
    /// on every inference silo): a lost silo's grains move at once, as a cluster kept at N+1 machines allows.
    /// </summary>
    public static (string Name, string Roles, string Devices)[] LayoutFor(JobSpec job, int machineDevices = DevicesPerMachine, int spares = 0)
    {
        if (job.Rl is not { Emulated: true } rl) return Layout;
        if (machineDevices < 1) throw new ArgumentOutOfRangeException(nameof(machineDevices), machineDevices, "a machine has at least one device");
        if (spares < 0) throw new ArgumentOutOfRangeException(nameof(spares), spares, "spare machines cannot be fewer than none");
        var kind = rl.Emulation!.DeviceClass.ToLowerInvariant();
        IEnumerable<(string, string, string)> Machines(string prefix, string roles, int devices)
        {
            var needed = (devices + machineDevices - 1) / machineDevices;
            return Enumerable.Range(0, needed + spares)
                .Select(m => ($"{prefix}-{m}", roles, $"{kind}:0-{(m < needed ? Math.Min(machineDevices, devices - m * machineDevices) : machineDevices) - 1}"));
        }
        return
        [
            .. Machines("gen", SiloRoles.Generation, rl.GenerationWorkers),
            .. Enumerable.Range(0, 1 + spares).Select(m => (spares == 0 ? "infer" : $"infer-{m}", SiloRoles.Inference, kind)),
            .. Machines("train", SiloRoles.Training, InProcessSilo.TrainingDevices(rl)),
        ];
    }

    /// <summary>
    /// Devices of an emulated machine (a silo) by default: sixteen, two eight-device servers' worth. A silo
    /// process per eight devices (fifteen for the 7B / 128-device workload) overloads a two-core machine:
    /// measured, a cluster's second start timed out its connections and directory hand-overs.
    /// </summary>
    public const int DevicesPerMachine = 16;

    private (string Name, string Roles, string Devices)[] layout = Layout;

    // Where the silos keep checkpoints and the ledger: Azure Blob on Azurite, or a directory they share.
    private string? sharedDirectory;

    /// <summary>
    /// Starts the silos of <paramref name="of"/> (default <see cref="Layout"/>); with <paramref name="directory"/>,
    /// their checkpoints and ledger go to that directory, shared as machines share a file system, instead of Azure Blob.
    /// </summary>
    public void StartLayout(string clusterId, (string Name, string Roles, string Devices)[]? of = null, string? directory = null)
    {
        (layout, sharedDirectory) = (of ?? Layout, directory);
        foreach (var (name, roles, devices) in layout) StartSilo(clusterId, name, roles, devices);
    }

    /// <summary>The silos running now, by name.</summary>
    public IReadOnlyCollection<string> Silos => silos.Keys;

    /// <summary>Whether a running silo of this cluster serves a role.</summary>
    public bool Serves(string name, string role) => silos.TryGetValue(name, out var silo) && silo.Roles.Split(',', StringSplitOptions.TrimEntries).Contains(role);

    /// <summary>A silo process's resident memory in MiB (Linux /proc), or null where it cannot be read.</summary>
    public double? MemoryMiB(string name)
    {
        try
        {
            var line = File.ReadLines($"/proc/{silos[name].Process.Id}/status").FirstOrDefault(l => l.StartsWith("VmRSS:"));
            return line is null ? null : double.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or KeyNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// An Orleans client of the cluster (with its certificate), once every silo of the layout is active. A silo
    /// process that ends before then is started again, twice at most: a port picked free can be taken by another
    /// process before the silo binds it. The timeout names the silos not active, with their logs' last lines.
    /// </summary>
    public async Task<IHost> ConnectAsync(string clusterId, CancellationToken cancellationToken)
    {
        var settings = new ClusterSettings { Clustering = ClusteringProvider.AzureTable, Connection = ConnectionString, ClusterId = clusterId, Certificate = Certificate };
        if (settings.Validate() is { Successful: false } invalid) throw new InvalidOperationException(invalid.Message);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        var restarts = new Dictionary<string, int>();
        IHost? host = null;
        IReadOnlyList<SiloInfo> active = [];
        while (true)
        {
            foreach (var (name, (process, roles, devices)) in silos.Where(s => s.Value.Process.HasExited).ToList())
            {
                if (restarts.GetValueOrDefault(name) == 2) continue;
                restarts[name] = restarts.GetValueOrDefault(name) + 1;
                StartSilo(clusterId, name, roles, devices);
            }
            try
            {
                host ??= await settings.ConnectAsync(cancellationToken);
                active = (await host.Services.GetRequiredService<IClusterClient>().GetGrain<IClusterInfoGrain>(0).Silos()).Where(s => s.Status == "Active").ToList();
                if (active.Count == layout.Length) return host;
            }
            // No gateway yet; or one that answers while the silos still start (a call timed out, or cancelled by
            // the runtime as a directory partition moved: measured, a soak begun on a loaded machine ended
            // with a bare "The operation was canceled.").
            catch (Exception e) when (e is InvalidOperationException || SiloLoss.Is(e) || e is OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
            }
            if (DateTime.UtcNow > deadline)
            {
                host?.Dispose();
                var missing = layout.Select(s => s.Name).Where(name => active.All(a => a.Name != name))
                    .Select(name => $"{name}{(restarts.TryGetValue(name, out var n) ? $" (started again {n} times)" : "")}{(silos.TryGetValue(name, out var s) && s.Process.HasExited ? $" (exited with code {s.Process.ExitCode})" : "")}:{Environment.NewLine}{Tail(LogOf(clusterId, name), 15)}");
                throw new TimeoutException($"the chaos cluster {clusterId} did not come up within 3 minutes ({active.Count} of {layout.Length} silos active; logs in {Work}); not active:{Environment.NewLine}{string.Join(Environment.NewLine, missing)}");
            }
            await Task.Delay(1000, cancellationToken);
        }
    }

    private string LogOf(string clusterId, string name) => Path.Combine(Work, $"{clusterId}-{name}.log");

    private static string Tail(string log, int lines)
    {
        try
        {
            using var reader = new StreamReader(new FileStream(log, FileMode.Open, FileAccess.Read, FileShare.ReadWrite));
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines).Select(l => "    " + l));
        }
        catch (IOException e)
        {
            return $"    (log unreadable: {e.Message})";
        }
    }

    /// <summary>Starts a silo process of <paramref name="clusterId"/> with these roles and devices.</summary>
    public void StartSilo(string clusterId, string name, string roles, string devices)
    {
        var silo = Path.Combine(Root, "Silo", "bin", "Release", "net10.0", "Silo.dll");
        if (!File.Exists(silo)) throw new InvalidOperationException($"no silo build at {silo}: dotnet build Silo -c Release");
        string[] store = sharedDirectory is null
            ? ["--Checkpoints:Provider", "AzureBlob", "--Checkpoints:ConnectionString", ConnectionString]
            : ["--Checkpoints:Provider", "Local", "--Checkpoints:Directory", sharedDirectory];
        var process = Start("dotnet", LogOf(clusterId, name), [silo,
            "--Clustering:Provider", "AzureTable", "--Clustering:ConnectionString", ConnectionString,
            "--Clustering:ClusterId", clusterId, "--Clustering:ServiceId", clusterId,
            "--Clustering:SiloPort", FreePort().ToString(), "--Clustering:GatewayPort", FreePort().ToString(),
            "--Silo:Name", name, "--Silo:Roles", roles, "--Silo:Devices", devices,
            .. store, "--Tls:Certificate", Certificate, "--Logging:LogLevel:Default", "Warning"], SiloEnvironment);
        silos[name] = (process, roles, devices);
    }

    /// <summary>SIGKILL: the process ends at once, saying goodbye to nobody. Its roles and devices, for its replacement.</summary>
    public (string Roles, string Devices) Kill(string name)
    {
        var (process, roles, devices) = silos[name];
        process.Kill(entireProcessTree: true);
        process.WaitForExit();
        silos.Remove(name);
        return (roles, devices);
    }

    /// <summary>Stops every silo of the cluster (the benchmark's scenarios each have their own).</summary>
    public void StopSilos()
    {
        foreach (var name in silos.Keys.ToList()) Kill(name);
    }

    public ValueTask DisposeAsync()
    {
        StopSilos();
        if (!azurite.HasExited) azurite.Kill(entireProcessTree: true);
        azurite.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// What a silo process runs with (as infra/cluster/local-cluster.sh starts them): glibc's allocator
    /// limited to two arenas. By default it adds an arena per thread that allocates at once (up to 8 per
    /// core), each keeping freed pages of its own; the native memory outside the collector of a silo that
    /// came in after a kill rose ~20 MB over its first half hour of a soak (see the README's soak section).
    /// </summary>
    private static readonly Dictionary<string, string> SiloEnvironment = new() { ["MALLOC_ARENA_MAX"] = "2" };

    /// <summary>A child process whose output goes to a log file (never this terminal: it may hold what a silo logs).</summary>
    private static Process Start(string executable, string log, string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(executable) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) start.Environment[name] = value;
        var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {executable}");
        var writer = new StreamWriter(log, append: true) { AutoFlush = true };
        void Write(string? line)
        {
            if (line is null) return;
            lock (writer) writer.WriteLine(line);
        }
        process.OutputDataReceived += (_, e) => Write(e.Data);
        process.ErrorDataReceived += (_, e) => Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return process;
    }

    private static bool Listening(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The repository this client was built in: the nearest folder above it holding Actors.sln.</summary>
    public static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Actors.sln"))) return dir.FullName;
        }
        throw new InvalidOperationException($"chaos runs silo processes from the repository's build: no Actors.sln above {AppContext.BaseDirectory}");
    }
}
