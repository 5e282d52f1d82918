using Client.Commands;
using Spectre.Console.Cli;

var app = new CommandApp();
app.Configure(config =>
{
    config.SetApplicationName("actors");
    // An unknown option ("--resum") is an error, not an argument silently dropped.
    config.UseStrictParsing();
    config.SetInterceptor(new MissingOptionValue());
    // One line on standard error for what went wrong, never a stack trace: exit 2 for bad input, 1 for a failure.
    config.SetExceptionHandler((e, _) =>
    {
        if (e is CommandAppException { Pretty: { } pretty })
        {
            Spectre.Console.AnsiConsole.Write(pretty);
            return 2;
        }
        Console.Error.WriteLine($"error: {e.Message}");
        return e is ArgumentException or FormatException ? 2 : 1;
    });
    config.AddCommand<RunCommand>("run")
        .WithDescription("Run a job on a silo hosted in this process (localhost clustering, local checkpoints).");
    config.AddCommand<SubmitCommand>("submit").WithDescription("Validate a job file and start the job on the cluster.");
    config.AddCommand<StatusCommand>("status").WithDescription("Show a job's state and progress.");
    config.AddCommand<WatchCommand>("watch").WithDescription("Follow a job's progress live until it ends.");
    config.AddCommand<CancelCommand>("cancel").WithDescription("Cancel a job after its current iteration.");
    config.AddCommand<ClusterCommand>("cluster")
        .WithDescription("List the cluster's silos: roles, devices, datacenter, status, activations, device leases.");
    config.AddCommand<DrainCommand>("drain")
        .WithDescription("Drain a silo: no new device grains there; its device grains finish and move; then it can stop.");
    config.AddCommand<ScheduleCommand>("schedule")
        .WithDescription("Plan a fused actor + critic pipeline schedule; compare it with the lower bound and sequential 1F1B.");
    config.AddCommand<Client.Chaos.ChaosCommand>("chaos")
        .WithDescription("Kill each kind of silo of a real multi-process cluster mid-step, one run each, beside a run without a kill: does the job go on, what it costs, is anything lost.");
    config.AddCommand<BenchCommand>("bench")
        .WithDescription("Run an emulated workload under each policy; steady-state throughput against the colocated barrier at the same device count, efficiency against the bound.");
    config.AddCommand<SizeCommand>("size")
        .WithDescription("Size an emulated asynchronous workload's pools to throughput targets (the cheapest devices that meet each) without running it.");
    config.AddCommand<PlacementBenchCommand>("placement-bench")
        .WithDescription("Time the placement of many device grains at once on an in-process silo (the control plane's device directory).");
    config.AddCommand<PipelineBenchCommand>("pipeline-bench")
        .WithDescription("Train the demo model pipeline-parallel on stage grains under each schedule; per-device busy and idle time, measured vs expected bubble.");
    config.AddBranch("tls", tls =>
    {
        tls.SetDescription("Transport security of a cluster.");
        tls.AddCommand<TlsCreateCommand>("create").WithDescription("Make a self-signed cluster certificate (a .pfx file) for the silos' Tls:Certificate and the client's --certificate.");
    });
    config.AddCommand<ReferenceCommand>("reference").WithDescription("Write the job-file and silo-settings references (docs/reference) from the settings classes.");
    config.AddCommand<ReportCommand>("report").WithDescription("Write a job's report: an HTML page with its curves as PNG charts, its last device timeline and every step's figures; of several jobs, one page comparing them.");
    config.AddCommand<ImportCommand>("import").WithDescription("Bring a Hugging Face model folder (sharded or not) into the checkpoint store as weights a job starts from.");
    config.AddCommand<ExportCommand>("export").WithDescription("Write a job's trained actor as a Hugging Face model folder (config, safetensors shards, tokenizer).");
    config.AddCommand<MergeCommand>("merge").WithDescription("Merge models in the checkpoint store (linear with weights, or SLERP of two) into one a job can start from.");
    config.AddCommand<CodebooksCommand>("codebooks").WithDescription("Learn the speech tokenizer's two codebooks on spoken arithmetic (espeak-ng) and measure its round trip on held-out utterances.");
    config.AddCommand<DatasetCommand>("dataset").WithDescription("Write a built-in task's examples as JSONL (the format of a job's \"dataset\").");
    config.AddCommand<KernelsBenchCommand>("kernels-bench")
        .WithDescription("Measure the tensor kernels: decoding, KV-cache speed-up, training throughput and FLOP/s efficiency.");
});
return await app.RunAsync(args);
