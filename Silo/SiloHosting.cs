using Grains;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Silo;

/// <summary>Everything a silo of this system needs, for its own host and for a client that co-hosts one.</summary>
public static class SiloHosting
{
    public static HostApplicationBuilder AddActorsSilo(this HostApplicationBuilder builder)
    {
        builder.Services.Configure<CheckpointOptions>(builder.Configuration.GetSection(CheckpointOptions.Section));
        builder.UseOrleans(silo => silo.UseLocalhostClustering());
        return builder;
    }
}
