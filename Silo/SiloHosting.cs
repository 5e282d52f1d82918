using System.Net;
using Grains;
using Grains.Cluster;
using Grains.Interfaces.Cluster;
using Grains.Placement;
using Grains.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Dashboard;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;
using Orleans.Runtime.Hosting;
using Orleans.Storage;
using Orleans.Placement;
using Orleans.Runtime.MembershipService.SiloMetadata;
using Silo.Options;

namespace Silo;

/// <summary>Everything a silo of this system needs, for its own host and for a client that co-hosts one.</summary>
public static class SiloHosting
{
    /// <summary>
    /// Runs a silo until it is stopped: with the Orleans dashboard on its loopback port when
    /// Dashboard:Enabled, otherwise with no web server at all.
    /// </summary>
    public static async Task RunAsync(string[] args)
    {
        // Settings files sit beside the executable, wherever it is started from.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
        var settings = SiloSettings.Load(builder.Configuration);
        settings.CheckPortsFree();
        if (!settings.Dashboard.Enabled)
        {
            builder.Services.Configure<HostOptions>(BoundedStop);
            builder.UseOrleans(silo => silo.ConfigureActors(settings));
            var host = builder.Build();
            LeaveIfStopHangs(host.Services);
            await host.RunAsync();
            return;
        }
        var web = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        web.WebHost.UseUrls($"http://127.0.0.1:{settings.Dashboard.Port}");
        web.Services.Configure<HostOptions>(BoundedStop);
        web.UseOrleans(silo => silo.ConfigureActors(settings).AddDashboard());
        var app = web.Build();
        LeaveIfStopHangs(app.Services);
        app.MapOrleansDashboard();
        await app.RunAsync();
    }

    /// <summary>How long a stop (SIGTERM, Ctrl-C) may take: past it the silo leaves without saying goodbye, whatever its membership store does.</summary>
    public static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(10);

    private static void BoundedStop(HostOptions options) => options.ShutdownTimeout = StopTimeout;

    /// <summary>
    /// A silo whose membership store is gone keeps retrying it inside its stop, past the host's timeout:
    /// once a stop has had its time and a little more, the process leaves, saying so.
    /// </summary>
    private static void LeaveIfStopHangs(IServiceProvider services) =>
        services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(() => _ = Task.Run(async () =>
        {
            await Task.Delay(StopTimeout + TimeSpan.FromSeconds(5));
            Console.Error.WriteLine($"the silo did not stop within {StopTimeout.TotalSeconds:F0} s (its membership store may be unreachable); leaving without a graceful goodbye");
            Environment.Exit(0);
        }));

    /// <summary>Reads and checks the configuration, then configures Orleans; throws <see cref="ConfigurationException"/> on a bad value.</summary>
    public static HostApplicationBuilder AddActorsSilo(this HostApplicationBuilder builder)
    {
        var settings = SiloSettings.Load(builder.Configuration);
        builder.UseOrleans(silo => silo.ConfigureActors(settings));
        return builder;
    }

    public static ISiloBuilder ConfigureActors(this ISiloBuilder silo, SiloSettings settings)
    {
        silo.UseActorsClustering(settings.Clustering).AddActorsServices(settings);
#pragma warning disable ORLEANSEXP003 // experimental in Orleans 10, and what a cluster that loses silos needs:
        // The default directory forgets the entries a dead silo kept for grains living elsewhere, so a
        // trainer on a healthy silo gets a second, empty activation on its next call; this one hands its
        // partitions over on membership changes and keeps every live activation's entry.
        silo.AddDistributedGrainDirectory();
#pragma warning restore ORLEANSEXP003
        // Orleans' silo-metadata cache passes over a silo whose metadata it failed to read (a replacement asked
        // while still joining) for the failure-detection timeout plus two table refreshes: at the default
        // refresh (60 s) placement sees no silo of that role for over two minutes, longer than a job waits
        // for one (measured: a killed inference silo's replacement was up and unseen until the job failed).
        silo.Configure<ClusterMembershipOptions>(o => o.TableRefreshTimeout = TimeSpan.FromSeconds(10));
        // Mutual TLS on silo-to-silo and client-to-gateway connections: a side without the cluster's certificate is refused.
        if (settings.Certificate is { } certificate) silo.UseTls(certificate.Own, certificate.Configure);
        return silo;
    }

    public static ISiloBuilder UseActorsClustering(this ISiloBuilder silo, ClusteringOptions clustering)
    {
        silo.Configure<ClusterOptions>(o => (o.ClusterId, o.ServiceId) = (clustering.ClusterId, clustering.ServiceId));
        switch (clustering.Provider)
        {
            case ClusteringProvider.Localhost:
                silo.UseLocalhostClustering(clustering.SiloPort, clustering.GatewayPort, new IPEndPoint(IPAddress.Loopback, clustering.PrimarySiloPort));
                break;
            case ClusteringProvider.AzureTable:
                silo.UseAzureStorageClustering(o => o.TableServiceClient = new Azure.Data.Tables.TableServiceClient(clustering.ConnectionString));
                silo.ConfigureEndpoints(IPAddress.Loopback, clustering.SiloPort, clustering.GatewayPort);
                break;
            case ClusteringProvider.Redis:
                silo.UseRedisClustering(clustering.ConnectionString!);
                silo.ConfigureEndpoints(IPAddress.Loopback, clustering.SiloPort, clustering.GatewayPort);
                break;
        }
        return silo;
    }

    /// <summary>
    /// Grain addresses a silo caches. Orleans' default (1,000,000) suits grains that live long; a job makes
    /// new sample grains every step (8,192 a step on the 256-device workload) and the cache's queues keep an
    /// entry until a million have followed it: the chaos soak's heap dumps of the job grain's silo found
    /// 16,644 cached addresses at minute 5 and 86,343 at minute 16, ~160 bytes each and rising with every
    /// step. The samples of the steps in flight at once fit in this bound; an address
    /// that fell out is looked up again in the directory.
    /// </summary>
    public const int DirectoryCacheSize = 65_536;

    /// <summary>Everything but membership: silo metadata, device placement, streams, storage options (a test cluster brings its own membership).</summary>
    public static ISiloBuilder AddActorsServices(this ISiloBuilder silo, SiloSettings settings)
    {
        var me = settings.Silo;
        ResponsePools.Bound();
        silo.Configure<GrainDirectoryOptions>(o => o.CacheSize = DirectoryCacheSize);
        silo.Configure<Orleans.Configuration.SiloOptions>(o => o.SiloName = me.Name);
        var declared = new Dictionary<string, string>
        {
            [SiloMetadataKeys.Name] = me.Name,
            [SiloMetadataKeys.Roles] = me.Roles,
            [SiloMetadataKeys.Devices] = me.Devices,
            [SiloMetadataKeys.DeviceClass] = me.DeviceClass,
            [SiloMetadataKeys.Datacenter] = me.Datacenter,
        };
        silo.UseSiloMetadata(declared);
        silo.Services.AddSingleton(new Grains.Cluster.LocalSiloDeclaration(declared));
        silo.Services.AddSingleton<Grains.Cluster.SiloDeclarations>();
        silo.AddDevicePlacement();

        silo.Services.AddSingleton(settings);
        silo.Services.AddLossExceptions();
        silo.Services.AddSingleton<Grains.Pipeline.DeviceTurns>();
        silo.Services.AddSingleton<Grains.Engines.HybridDevices>();
        // Applied here too: libtorch gives a thread that has not set its own count the last one set, so the
        // silo's other threads (a scoring batch's) take it as well.
        var tensorThreads = new Grains.Cluster.TensorThreads(me.TensorThreads);
        tensorThreads.ApplyHere();
        silo.Services.AddSingleton(tensorThreads);
        silo.Services.AddSingleton<Grains.Rl.SiloWeights>();
        silo.Services.AddSingleton<GrainCallCounter>();
        silo.Services.AddSingleton<IIncomingGrainCallFilter>(services => services.GetRequiredService<GrainCallCounter>());
        silo.Services.AddSingleton(Microsoft.Extensions.Options.Options.Create(settings.Checkpoints));
        silo.Services.AddSingleton(CreateCheckpointStore(settings.Checkpoints));
        silo.AddLedger(settings.Checkpoints);
        silo.AddJobReminders(settings.Clustering);
        if (settings.Metrics.PrometheusEnabled) silo.Services.AddPrometheusEndpoint(settings.Metrics.PrometheusPort);
        return silo;
    }

    /// <summary>
    /// Where running jobs' reminders are kept: with the membership (Azure Table, Redis), or in memory on a
    /// single machine, whose membership is in memory too.
    /// </summary>
    public static ISiloBuilder AddJobReminders(this ISiloBuilder silo, ClusteringOptions clustering) => clustering.Provider switch
    {
        ClusteringProvider.AzureTable => silo.UseAzureTableReminderService(clustering.ConnectionString!),
        ClusteringProvider.Redis => silo.UseRedisReminderService(o => o.ConfigurationOptions = StackExchange.Redis.ConfigurationOptions.Parse(clustering.ConnectionString!)),
        _ => silo.UseInMemoryReminderService(),
    };

    /// <summary>The ledger's grain storage, where the checkpoints are (<see cref="Ledger"/>).</summary>
    public static ISiloBuilder AddLedger(this ISiloBuilder silo, CheckpointOptions checkpoints)
    {
        if (checkpoints.Ledger == LedgerPlace.Memory)
        {
            silo.Services.AddGrainStorage(Ledger.Storage, (_, _) => new ProcessGrainStorage());
            return silo;
        }
        if (checkpoints.Provider == CheckpointProvider.AzureBlob)
        {
            return silo.AddAzureBlobGrainStorage(Ledger.Storage, (OptionsBuilder<AzureBlobStorageOptions> options) => options.Configure<Serializer>((o, serializer) =>
            {
                o.BlobServiceClient = new Azure.Storage.Blobs.BlobServiceClient(checkpoints.ConnectionString);
                o.ContainerName = Ledger.Container(checkpoints);
                // Records hold arrays of tokens and log-probs: Orleans' binary form, not JSON.
                o.GrainStorageSerializer = new OrleansGrainStorageSerializer(serializer);
            }));
        }
        silo.Services.AddGrainStorage(Ledger.Storage, (services, _) => new DirectoryGrainStorage(Ledger.Directory(checkpoints), services.GetRequiredService<Serializer>()));
        return silo;
    }

    public static ICheckpointStore CreateCheckpointStore(CheckpointOptions options) => options.Provider switch
    {
        CheckpointProvider.AzureBlob => new BlobCheckpointStore(new Azure.Storage.Blobs.BlobContainerClient(options.ConnectionString, options.Container), options.ChunkBytes),
        _ => new LocalCheckpointStore(options.Directory, options.ChunkBytes),
    };

    /// <summary>The director that places device-owning grains, for each role's strategy, the one that places each datacenter's device partition there, the one that places a grain on the silo its key names, and the inference-silo filter.</summary>
    public static ISiloBuilder AddDevicePlacement(this ISiloBuilder silo)
    {
        silo.Services.AddSingleton<LeaseCalls>();
        silo.AddPlacementDirector<GenerationDevicePlacement, DevicePlacementDirector>();
        silo.AddPlacementDirector<TrainingDevicePlacement, DevicePlacementDirector>();
        silo.AddPlacementDirector<InferenceDevicePlacement, DevicePlacementDirector>();
        silo.AddPlacementDirector<DatacenterPlacement, DatacenterPlacementDirector>();
        silo.AddPlacementDirector<SiloPinnedPlacement, SiloPinnedPlacementDirector>();
        silo.Services.AddPlacementFilter<InferenceSiloFilter, InferenceSiloFilterDirector>(ServiceLifetime.Singleton);
        return silo;
    }
}
